"""Outbox progress across attempts: a retry redoes only what is not done, the provider's
Retry-After is honoured without spending attempts, and a change that gave up is reported
as failed."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from inbox import services
from inbox.models import ChangeStatus, ProviderChange
from inbox.settings_selectors import recent_changes
from sync.errors import ProviderTemporaryError
from sync.providers.base import Outcome, PushResult
from sync.push import push_account
from tests.factories import receive, switches

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("recording")]


@pytest.fixture
def change(alice, alice_mailbox):  # type: ignore[no-untyped-def]
    switches(alice, archive=True, delete=True)
    ids = [receive(alice_mailbox).conversation_id for _ in range(4)]
    services.archive_conversations(alice, ids)
    return ProviderChange.objects.get(account=alice_mailbox)


def _make_due() -> None:
    ProviderChange.objects.update(next_attempt_at=timezone.now())


def _keys(change: ProviderChange) -> list[str]:
    return [str(ref["key"]) for ref in change.refs]


def test_a_retry_pushes_only_the_messages_not_done_by_the_failed_attempt(alice_mailbox, change, recording):
    keys = _keys(change)
    recording.scripts.append(
        lambda requests: [
            PushResult(requests[0].change_id, Outcome.RETRY, "timed out", done_keys=keys[:3]),
        ]
    )
    push_account(alice_mailbox.pk)
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING and sorted(change.progress) == sorted(keys[:3])
    _make_due()
    assert push_account(alice_mailbox.pk).done == 1
    second_request = recording.calls[1][1][0]
    assert [ref["key"] for ref in second_request.refs] == keys[3:]
    change.refresh_from_db()
    assert change.status == ChangeStatus.DONE


def test_a_whole_batch_abort_keeps_the_progress_it_reports(alice, alice_mailbox, change, recording):
    keys = _keys(change)
    recording.scripts.append(ProviderTemporaryError("connection dropped", progress={change.pk: keys[:2]}))
    push_account(alice_mailbox.pk)
    change.refresh_from_db()
    assert sorted(change.progress) == sorted(keys[:2]) and change.attempts == 1
    _make_due()
    push_account(alice_mailbox.pk)
    assert sorted(ref["key"] for ref in recording.calls[1][1][0].refs) == sorted(keys[2:])


def test_a_change_whose_messages_are_all_done_completes_without_a_provider_call(
    alice_mailbox, change, recording
):
    keys = _keys(change)
    recording.scripts.append(
        lambda requests: [PushResult(requests[0].change_id, Outcome.RETRY, "429", done_keys=keys)]
    )
    push_account(alice_mailbox.pk)
    _make_due()
    summary = push_account(alice_mailbox.pk)
    assert summary.done == 1
    assert len(recording.calls) == 1  # the second attempt asked the provider nothing
    change.refresh_from_db()
    assert change.status == ChangeStatus.DONE


def test_retry_after_defers_by_exactly_that_without_spending_an_attempt(alice_mailbox, change, recording):
    recording.scripts.append(ProviderTemporaryError("429 Too Many Requests", retry_after=1))
    before = timezone.now()
    push_account(alice_mailbox.pk)
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING and change.attempts == 0
    # Retry-After: 1 wins over the 30-second exponential backoff.
    assert before + timedelta(seconds=1) <= change.next_attempt_at < before + timedelta(seconds=10)
    assert change.last_error == "429 Too Many Requests"


def test_a_retry_result_with_retry_after_gives_its_attempt_back(alice_mailbox, change, recording):
    recording.scripts.append(
        lambda requests: [PushResult(requests[0].change_id, Outcome.RETRY, "503", retry_after=2)]
    )
    before = timezone.now()
    push_account(alice_mailbox.pk)
    change.refresh_from_db()
    assert change.attempts == 0
    assert before + timedelta(seconds=2) <= change.next_attempt_at < before + timedelta(seconds=10)


def test_a_throttling_storm_spends_no_attempts(alice_mailbox, change, recording, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    for _ in range(6):
        recording.scripts.append(ProviderTemporaryError("429", retry_after=1))
        _make_due()
        push_account(alice_mailbox.pk)
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING and change.attempts == 0
    _make_due()
    assert push_account(alice_mailbox.pk).done == 1


def test_a_temporary_error_without_retry_after_backs_off_and_spends_an_attempt(
    alice_mailbox, change, recording, settings
):
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 30
    recording.scripts.append(ProviderTemporaryError("timed out"))
    before = timezone.now()
    push_account(alice_mailbox.pk)
    change.refresh_from_db()
    assert change.attempts == 1
    assert change.next_attempt_at >= before + timedelta(seconds=15)


def test_push_changes_reports_a_change_that_gave_up_as_failed(alice_mailbox, change, recording, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    recording.scripts.append(
        lambda requests: [PushResult(requests[0].change_id, Outcome.RETRY, "mailbox busy")]
    )
    out = StringIO()
    call_command("push_changes", account=alice_mailbox.pk, stdout=out)
    assert f"account {alice_mailbox.pk}: 0 done, 0 retrying, 1 failed" in out.getvalue()
    change.refresh_from_db()
    assert change.status == ChangeStatus.FAILED and "gave up after 1 attempts" in change.last_error
    assert [row.result for row in recent_changes(alice_mailbox)] == ["failed"]


def test_a_whole_batch_error_that_uses_the_last_attempt_is_reported_failed(
    alice_mailbox, change, recording, settings
):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    recording.scripts.append(ProviderTemporaryError("timed out"))
    summary = push_account(alice_mailbox.pk)
    assert (summary.retrying, summary.failed) == (0, 1)
