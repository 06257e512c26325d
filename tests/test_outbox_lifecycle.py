"""The provider-change lifecycle: pending → running → done | retry | failed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Plan
from inbox import services
from inbox.models import AccountStatus, ChangeKind, ChangeStatus, ProviderChange
from inbox.services.outbox import backoff_delay, claim_changes, overdue_account_ids
from sync.errors import ProviderAuthError, ProviderPermanentError, ProviderTemporaryError
from sync.providers.base import Outcome, PushResult
from sync.push import push_account
from tests.factories import receive, switches

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("recording"),
]


@pytest.fixture
def archived(alice, alice_mailbox):  # type: ignore[no-untyped-def]
    switches(alice, archive=True, delete=True)
    ids = [receive(alice_mailbox).conversation_id for _ in range(3)]
    services.archive_conversations(alice, ids)
    return ids


def _change(account) -> ProviderChange:  # type: ignore[no-untyped-def]
    return ProviderChange.objects.get(account=account)


def test_push_marks_change_done_and_sends_snapshot_refs(alice_mailbox, archived, recording):
    summary = push_account(alice_mailbox.pk)
    assert summary.done == 1
    change = _change(alice_mailbox)
    assert change.status == ChangeStatus.DONE and change.attempts == 1 and change.done_at
    (account_id, requests), *_ = recording.calls
    assert account_id == alice_mailbox.pk
    assert requests[0].kind == ChangeKind.ARCHIVE
    assert len(requests[0].refs) == 3


def test_temporary_error_retries_with_backoff_then_succeeds(alice_mailbox, archived, recording):
    recording.scripts.append(ProviderTemporaryError("503 from provider", retry_after=120))
    push_account(alice_mailbox.pk)
    change = _change(alice_mailbox)
    assert change.status == ChangeStatus.PENDING
    assert change.last_error == "503 from provider"
    # Retry-After is honoured: not due before two minutes have passed.
    assert change.next_attempt_at >= timezone.now() + timedelta(seconds=110)
    assert push_account(alice_mailbox.pk).done == 0  # not due yet: nothing claimed
    ProviderChange.objects.filter(pk=change.pk).update(next_attempt_at=timezone.now())
    assert push_account(alice_mailbox.pk).done == 1
    change.refresh_from_db()
    # A Retry-After deferral gives its attempt back: only the successful one counts.
    assert change.status == ChangeStatus.DONE and change.attempts == 1 and change.last_error == ""


def test_change_fails_after_max_attempts_and_says_why(alice_mailbox, archived, recording, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    for _ in range(2):
        recording.scripts.append(ProviderTemporaryError("timed out"))
        ProviderChange.objects.update(next_attempt_at=timezone.now())
        push_account(alice_mailbox.pk)
    change = _change(alice_mailbox)
    assert change.status == ChangeStatus.FAILED
    assert "gave up after 2 attempts: timed out" in change.last_error


def test_permanent_error_fails_the_change_at_once(alice_mailbox, archived, recording):
    recording.scripts.append(ProviderPermanentError("folder Archive does not exist"))
    push_account(alice_mailbox.pk)
    change = _change(alice_mailbox)
    assert change.status == ChangeStatus.FAILED and "Archive does not exist" in change.last_error


def test_auth_error_marks_account_needs_reauth_and_keeps_change(alice_mailbox, archived, recording):
    recording.scripts.append(ProviderAuthError("invalid_grant"))
    push_account(alice_mailbox.pk)
    alice_mailbox.refresh_from_db()
    assert alice_mailbox.status == AccountStatus.NEEDS_REAUTH
    change = _change(alice_mailbox)
    assert change.status == ChangeStatus.PENDING and change.attempts == 0
    # Nothing is attempted until the user reconnects.
    assert "reconnected" in push_account(alice_mailbox.pk).skipped_reason
    assert len(recording.calls) == 1


def test_per_change_outcomes_are_recorded_separately(alice, alice_mailbox, archived, recording):
    services.unarchive_conversations(alice, archived[:1])

    def script(requests):  # type: ignore[no-untyped-def]
        return [
            PushResult(requests[0].change_id, Outcome.DONE),
            PushResult(requests[1].change_id, Outcome.FAILED, "2 messages matched that Message-ID"),
        ]

    recording.scripts.append(script)
    push_account(alice_mailbox.pk)
    statuses = list(ProviderChange.objects.order_by("id").values_list("kind", "status", "last_error"))
    assert statuses == [
        ("archive", "done", ""),
        ("unarchive", "failed", "2 messages matched that Message-ID"),
    ]


def test_changes_of_one_account_are_pushed_in_order(alice, alice_mailbox, archived, recording):
    services.unarchive_conversations(alice, archived)
    services.archive_conversations(alice, archived)
    push_account(alice_mailbox.pk)
    kinds = [r.kind for _, requests in recording.calls for r in requests]
    assert kinds == ["archive", "unarchive", "archive"]


def test_a_live_claim_blocks_a_second_worker_on_the_same_account(alice_mailbox, archived):
    first = claim_changes(alice_mailbox.pk)
    assert len(first) == 1
    assert claim_changes(alice_mailbox.pk) == []


def test_a_claim_whose_worker_died_is_handed_out_again_after_the_lease(alice_mailbox, archived, settings):
    claim_changes(alice_mailbox.pk)
    assert overdue_account_ids() == []
    ProviderChange.objects.update(
        claimed_at=timezone.now() - timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1)
    )
    assert overdue_account_ids() == [alice_mailbox.pk]
    again = claim_changes(alice_mailbox.pk)
    assert len(again) == 1 and again[0].attempts == 2


def test_sweeper_finds_changes_whose_nudge_was_lost(alice_mailbox, archived):
    assert overdue_account_ids() == []  # just written: the nudge is still on its way
    ProviderChange.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    assert overdue_account_ids() == [alice_mailbox.pk]


def test_backoff_grows_exponentially_with_jitter_and_a_cap(settings):
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 10
    settings.OUTBOX_BACKOFF_MAX_SECONDS = 100
    delays = [backoff_delay(n).total_seconds() for n in (1, 2, 3, 10)]
    assert 5 <= delays[0] <= 10
    assert 10 <= delays[1] <= 20
    assert 20 <= delays[2] <= 40
    assert 50 <= delays[3] <= 100


def test_lite_plan_push_touches_no_provider_and_says_why(acme, alice_mailbox, archived, recording):
    acme.plan = Plan.LITE
    acme.save()
    summary = push_account(alice_mailbox.pk)
    assert summary.failed == 1
    assert recording.calls == []
    change = _change(alice_mailbox)
    assert change.status == ChangeStatus.FAILED and "Lite plan" in change.last_error


def test_user_can_retry_a_failed_change(alice, bob, alice_mailbox, archived, recording):
    recording.scripts.append(ProviderPermanentError("mailbox locked"))
    push_account(alice_mailbox.pk)
    change = _change(alice_mailbox)
    from inbox.errors import NotFound

    with pytest.raises(NotFound):
        services.retry_failed_change(bob, change.pk)  # not bob's mailbox
    services.retry_failed_change(alice, change.pk)
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING and change.attempts == 0
    push_account(alice_mailbox.pk)
    change.refresh_from_db()
    assert change.status == ChangeStatus.DONE


def test_changes_waiting_behind_a_throttled_one_keep_their_attempts(
    alice, alice_mailbox, archived, recording
):
    services.unarchive_conversations(alice, archived)
    services.archive_conversations(alice, archived)
    recording.scripts.append(ProviderTemporaryError("503 Service Unavailable"))
    push_account(alice_mailbox.pk)
    rows = list(ProviderChange.objects.order_by("id").values_list("status", "attempts", "last_error"))
    assert rows[0] == ("pending", 1, "503 Service Unavailable")
    assert [r[:2] for r in rows[1:]] == [("pending", 0), ("pending", 0)]
    assert all("waiting for an earlier change" in r[2] for r in rows[1:])


def test_a_deferred_result_gives_the_attempt_back(alice, alice_mailbox, archived, recording):
    services.unarchive_conversations(alice, archived)

    def script(requests):  # type: ignore[no-untyped-def]
        return [
            PushResult(requests[0].change_id, Outcome.RETRY, "timed out"),
            PushResult(
                requests[1].change_id, Outcome.DEFERRED, "waiting for an earlier change", retry_after=30
            ),
        ]

    recording.scripts.append(script)
    push_account(alice_mailbox.pk)
    first, second = ProviderChange.objects.order_by("id")
    assert (first.attempts, second.attempts) == (1, 0)
    assert second.next_attempt_at >= timezone.now() + timedelta(seconds=25)
