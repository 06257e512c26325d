"""Outbox progress across attempts: a change of many messages keeps what Gmail already did
(``PushResult.done_keys``), so a retry redoes only the rest; a 429 with Retry-After waits
that long and spends no attempt."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import services
from inbox.models import ChangeStatus, ProviderChange
from sync.push import push_account
from tests.gmail.helpers import drain, seeded, seeded_many

pytestmark = pytest.mark.django_db


def trash_calls(gmail) -> Counter[str]:  # type: ignore[no-untyped-def]
    """messages.trash calls Gmail carried out, per message id."""
    return Counter(c.path.split("/")[-2] for c in gmail.calls_to("messages.trash") if c.status == 200)


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_a_1000_message_change_failing_at_600_finishes_without_redoing_the_first_600(
    gmail, alice_gmail, mail
):
    alice_gmail.switches(delete=True)
    convs = seeded_many(alice_gmail.account, alice_gmail.mailbox, mail, 1000)
    services.delete_conversations(alice_gmail.actor, [c for _, c in convs])
    (change,) = ProviderChange.objects.filter(account=alice_gmail.account)
    assert len(change.refs) == 1000
    gmail.fail("batch", 503, after=12)  # the 13th HTTP batch (messages 601-650) fails as a whole

    first = push_account(alice_gmail.account.pk)

    change.refresh_from_db()
    assert first.retrying == 1 and change.status == ChangeStatus.PENDING
    assert sum(trash_calls(gmail).values()) == 600
    assert len(change.progress) == 600 and "600 of 1000 moved to Trash so far" in change.last_error

    drain(alice_gmail.account)

    change.refresh_from_db()
    calls = trash_calls(gmail)
    assert change.status == ChangeStatus.DONE and change.attempts == 2
    assert sum(calls.values()) == 1000 and set(calls.values()) == {1}  # none of the 600 again
    assert gmail.count("messages.trash") == 1000
    assert alice_gmail.mailbox.ids_with("TRASH") == {g for g, _ in convs}


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_a_large_archive_failing_part_way_resumes_with_the_rest(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True)
    convs = seeded_many(alice_gmail.account, alice_gmail.mailbox, mail, 2500)
    services.archive_conversations(alice_gmail.actor, [c for _, c in convs])
    gmail.fail("messages.batchModify", 500, after=2)  # the third 1,000-id call fails

    drain(alice_gmail.account)

    (change,) = ProviderChange.objects.filter(account=alice_gmail.account)
    assert change.status == ChangeStatus.DONE and change.attempts == 2
    calls = gmail.calls_to("messages.batchModify")
    assert [c.status for c in calls] == [204, 204, 500, 204]
    assert [c.ids for c in calls if c.status == 204] == [1000, 1000, 500]  # only the last 500 again
    assert alice_gmail.mailbox.ids_with("INBOX") == set()


def test_a_429_storm_spends_no_attempts(gmail, alice_gmail, mail, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    alice_gmail.switches(archive=True, delete=True)
    trashed = [seeded(alice_gmail.account, alice_gmail.mailbox, mail) for _ in range(3)]
    archived_id, archived = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    services.delete_conversations(alice_gmail.actor, [c for _, c in trashed])
    services.archive_conversations(alice_gmail.actor, [archived])
    # Far more refusals than attempts allowed, each with a Retry-After of one second.
    gmail.fail("messages.trash", 429, times=6, retry_after=1)
    gmail.fail("batch", 429, times=2, retry_after=1)
    gmail.fail("threads.modify", 403, reason="userRateLimitExceeded", times=3, retry_after=1)

    summaries = drain(alice_gmail.account, rounds=30)

    assert len(summaries) > settings.OUTBOX_MAX_ATTEMPTS
    changes = list(ProviderChange.objects.filter(account=alice_gmail.account).order_by("id"))
    assert [c.status for c in changes] == [ChangeStatus.DONE] * 2
    assert max(c.attempts for c in changes) == 1  # only the attempt that went through counts
    assert alice_gmail.mailbox.ids_with("TRASH") == {g for g, _ in trashed}
    assert "INBOX" not in alice_gmail.mailbox.labels_of(archived_id)
    assert sum(trash_calls(gmail).values()) == 3  # each message trashed exactly once


def test_a_429_storm_without_retry_after_spends_no_attempts_and_backs_off(gmail, alice_gmail, mail, settings):
    # Gmail often throttles without a Retry-After header ("use exponential backoff").
    settings.OUTBOX_MAX_ATTEMPTS = 2
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 60
    alice_gmail.switches(archive=True, delete=True)
    trashed = [seeded(alice_gmail.account, alice_gmail.mailbox, mail) for _ in range(3)]
    archived_id, archived = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    services.delete_conversations(alice_gmail.actor, [c for _, c in trashed])
    services.archive_conversations(alice_gmail.actor, [archived])
    gmail.fail("messages.trash", 429, times=6)
    gmail.fail("batch", 429, times=2)
    gmail.fail("threads.modify", 403, reason="userRateLimitExceeded", times=3)

    summaries = drain(alice_gmail.account, rounds=30)  # each wait checked to be in the future

    assert len(summaries) > settings.OUTBOX_MAX_ATTEMPTS
    assert all(s.failed == 0 for s in summaries)
    changes = list(ProviderChange.objects.filter(account=alice_gmail.account).order_by("id"))
    assert [c.status for c in changes] == [ChangeStatus.DONE] * 2
    assert max(c.attempts for c in changes) == 1  # only the attempt that went through counts
    assert alice_gmail.mailbox.ids_with("TRASH") == {g for g, _ in trashed}
    assert "INBOX" not in alice_gmail.mailbox.labels_of(archived_id)
    assert sum(trash_calls(gmail).values()) == 3


def test_a_throttled_change_without_retry_after_waits_the_outbox_backoff(gmail, alice_gmail, mail, settings):
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 60
    alice_gmail.switches(delete=True)
    _, conversation = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    services.delete_conversations(alice_gmail.actor, [conversation])
    gmail.fail("messages.trash", 429, times=1)
    before = timezone.now()

    push_account(alice_gmail.account.pk)

    (change,) = ProviderChange.objects.filter(account=alice_gmail.account)
    assert change.status == ChangeStatus.PENDING and change.attempts == 0
    assert change.next_attempt_at >= before + timedelta(seconds=30)  # backoff with jitter, not at once
