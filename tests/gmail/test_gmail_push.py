"""App → Gmail: archive, unarchive and trash through the real Gmail API client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import services
from inbox.models import ChangeStatus, ProviderChange
from sync.push import push_account
from tests.gmail.helpers import drain, seeded, seeded_many

pytestmark = pytest.mark.django_db


def _changes(account):  # type: ignore[no-untyped-def]
    return list(ProviderChange.objects.filter(account=account).order_by("id"))


def test_archive_removes_only_the_inbox_label(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True)
    gmail_id, conversation = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    alice_gmail.mailbox.add_labels(gmail_id, "Label_7", "STARRED")

    services.archive_conversations(alice_gmail.actor, [conversation])
    summary = push_account(alice_gmail.account.pk)

    assert summary.done == 1
    assert alice_gmail.mailbox.labels_of(gmail_id) == {"UNREAD", "Label_7", "STARRED"}
    (change,) = _changes(alice_gmail.account)
    assert change.status == ChangeStatus.DONE and change.result == {"archived": 1}
    assert gmail.count("threads.modify") == 1  # the whole Gmail thread leaves the Inbox


def test_unarchive_puts_received_mail_back_in_the_inbox_but_not_sent_mail(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True)
    gmail_id, conversation = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    services.archive_conversations(alice_gmail.actor, [conversation])
    push_account(alice_gmail.account.pk)
    # alice's reply in the same conversation, known to the app from the SENT label
    from inbox.services import ingest_message
    from inbox.types import RefData
    from tests.factories import parsed

    raw, mid = mail.make(subject="Re: Pricing", sender=alice_gmail.account.address, to="customer@client.test")
    sent_id = alice_gmail.mailbox.deliver(raw, labels=["SENT"])
    original = alice_gmail.mailbox.messages[gmail_id].message_id
    ingest_message(
        alice_gmail.account,
        parsed(
            subject="Re: Pricing",
            message_id=mid,
            in_reply_to=original,
            incoming=False,
            sender=alice_gmail.account.address,
        ),
        RefData(key=sent_id, folder="SENT"),
    )

    services.unarchive_conversations(alice_gmail.actor, [conversation])
    push_account(alice_gmail.account.pk)

    assert "INBOX" in alice_gmail.mailbox.labels_of(gmail_id)
    assert alice_gmail.mailbox.labels_of(sent_id) == {"SENT"}
    unarchive = _changes(alice_gmail.account)[-1]
    assert unarchive.status == ChangeStatus.DONE and unarchive.result == {"moved back to the Inbox": 1}


def test_delete_moves_to_trash_and_never_deletes_for_good(gmail, alice_gmail, mail):
    alice_gmail.switches(delete=True)
    gmail_id, conversation = seeded(alice_gmail.account, alice_gmail.mailbox, mail)

    services.delete_conversations(alice_gmail.actor, [conversation])
    push_account(alice_gmail.account.pk)

    assert gmail_id in alice_gmail.mailbox.messages  # still there, in the Trash
    assert alice_gmail.mailbox.labels_of(gmail_id) == {"TRASH", "UNREAD"}
    assert gmail.count("messages.trash", in_batch=True) == 1
    assert _changes(alice_gmail.account)[0].result == {"moved to Trash": 1}


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_1500_archived_conversations_take_two_batch_modify_calls(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True)
    seeded_ids = seeded_many(alice_gmail.account, alice_gmail.mailbox, mail, 1500)

    services.archive_conversations(alice_gmail.actor, [c for _, c in seeded_ids])
    summary = push_account(alice_gmail.account.pk)

    assert summary.done == 1
    calls = gmail.calls_to("messages.batchModify")
    assert [c.ids for c in calls] == [1000, 500]
    assert alice_gmail.mailbox.ids_with("INBOX") == set()


def test_trash_goes_in_http_batches_of_at_most_50(gmail, alice_gmail, mail):
    alice_gmail.switches(delete=True)
    seeded_ids = seeded_many(alice_gmail.account, alice_gmail.mailbox, mail, 120)

    services.delete_conversations(alice_gmail.actor, [c for _, c in seeded_ids])
    push_account(alice_gmail.account.pk)

    assert [c.ids for c in gmail.calls_to("batch")] == [50, 50, 20]
    assert gmail.count("messages.trash", in_batch=True, status=200) == 120
    assert gmail.count("messages.trash", in_batch=False) == 0
    assert alice_gmail.mailbox.ids_with("TRASH") == {g for g, _ in seeded_ids}


def test_consecutive_changes_of_one_kind_share_calls(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True)
    conversations = [seeded(alice_gmail.account, alice_gmail.mailbox, mail)[1] for _ in range(3)]
    for conversation in conversations:
        services.archive_conversations(alice_gmail.actor, [conversation])

    summary = push_account(alice_gmail.account.pk)

    assert summary.done == 3
    assert [c.ids for c in gmail.calls_to("batch")] == [3]  # one HTTP batch of 3 threads.modify


def test_archive_then_unarchive_keep_their_order(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True)
    gmail_id, conversation = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    services.archive_conversations(alice_gmail.actor, [conversation])
    services.unarchive_conversations(alice_gmail.actor, [conversation])
    services.archive_conversations(alice_gmail.actor, [conversation])

    push_account(alice_gmail.account.pk)

    assert "INBOX" not in alice_gmail.mailbox.labels_of(gmail_id)
    # three calls in order: different kinds are never merged
    assert [c.endpoint for c in gmail.calls if c.endpoint != "batch" and c.endpoint != "token"] == [
        "threads.modify",
        "messages.batchModify",
        "threads.modify",
    ]


def test_pushing_the_same_change_twice_is_harmless(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True, delete=True)
    archived_id, a = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    trashed_id, b = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    services.archive_conversations(alice_gmail.actor, [a])
    services.delete_conversations(alice_gmail.actor, [b])
    push_account(alice_gmail.account.pk)
    history_before = len(alice_gmail.mailbox.history)

    # A worker died after Gmail applied the changes but before they were marked done.
    ProviderChange.objects.filter(account=alice_gmail.account).update(status=ChangeStatus.PENDING)
    summary = push_account(alice_gmail.account.pk)

    assert summary.done == 2
    assert alice_gmail.mailbox.labels_of(archived_id) == {"UNREAD"}
    assert alice_gmail.mailbox.labels_of(trashed_id) == {"TRASH", "UNREAD"}
    assert len(alice_gmail.mailbox.history) == history_before  # nothing changed the second time


def test_messages_deleted_in_gmail_meanwhile_count_as_done(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True, delete=True)
    kept_id, a = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    gone_id, b = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    gone_too_id, c = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    services.archive_conversations(alice_gmail.actor, [a, b])
    services.delete_conversations(alice_gmail.actor, [c])
    alice_gmail.mailbox.delete_forever(gone_id)
    alice_gmail.mailbox.delete_forever(gone_too_id)

    summary = push_account(alice_gmail.account.pk)

    assert summary.done == 2
    assert alice_gmail.mailbox.labels_of(kept_id) == {"UNREAD"}
    archive, trash = _changes(alice_gmail.account)
    assert archive.result == {"archived": 1, "no longer in Gmail": [gone_id]}
    assert trash.result == {"moved to Trash": 0, "no longer in Gmail": [gone_too_id]}


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (429, "rateLimitExceeded"),
        (403, "rateLimitExceeded"),
        (403, "userRateLimitExceeded"),
        (503, "backendError"),
    ],
)
def test_quota_and_server_errors_retry_after_the_retry_after(gmail, alice_gmail, mail, status, reason):
    alice_gmail.switches(archive=True)
    gmail_id, conversation = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    services.archive_conversations(alice_gmail.actor, [conversation])
    gmail.fail("threads.modify", status, reason=reason, retry_after=900)

    before = timezone.now()
    summary = push_account(alice_gmail.account.pk)

    assert summary.retrying == 1
    (change,) = _changes(alice_gmail.account)
    assert change.status == ChangeStatus.PENDING
    assert change.next_attempt_at >= before + timedelta(seconds=900)
    assert str(status) in change.last_error
    assert "INBOX" in alice_gmail.mailbox.labels_of(gmail_id)

    drain(alice_gmail.account)
    change.refresh_from_db()
    # The throttled attempt was given back (Retry-After honoured): only the one that worked counts.
    assert change.status == ChangeStatus.DONE and change.attempts == 1
    assert "INBOX" not in alice_gmail.mailbox.labels_of(gmail_id)


def test_rate_limited_trash_parts_retry_and_later_changes_wait(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True, delete=True)
    trashed = [seeded(alice_gmail.account, alice_gmail.mailbox, mail) for _ in range(3)]
    archived_id, later = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    services.delete_conversations(alice_gmail.actor, [c for _, c in trashed])
    services.archive_conversations(alice_gmail.actor, [later])
    gmail.fail("messages.trash", 429, times=2, retry_after=60)

    before = timezone.now()
    summary = push_account(alice_gmail.account.pk)

    trash, archive = _changes(alice_gmail.account)
    assert summary.retrying == 2 and summary.done == 0
    assert "1 of 3 moved to Trash so far" in trash.last_error
    assert archive.status == ChangeStatus.PENDING and "waiting for an earlier change" in archive.last_error
    assert gmail.count("threads.modify") == 0  # the archive was not sent ahead of the trash
    assert trash.next_attempt_at >= before + timedelta(seconds=60)  # Retry-After: 60

    drain(alice_gmail.account)
    assert alice_gmail.mailbox.ids_with("TRASH") == {g for g, _ in trashed}
    assert "INBOX" not in alice_gmail.mailbox.labels_of(archived_id)


def test_a_429_storm_ends_with_every_change_done(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True, delete=True)
    convs = seeded_many(alice_gmail.account, alice_gmail.mailbox, mail, 130)
    ids = {g for g, _ in convs}
    first, second, third = (
        [c for _, c in convs[:40]],
        [c for _, c in convs[40:80]],
        [c for _, c in convs[80:]],
    )
    services.archive_conversations(alice_gmail.actor, first)
    services.delete_conversations(alice_gmail.actor, second)
    services.archive_conversations(alice_gmail.actor, third)
    services.unarchive_conversations(alice_gmail.actor, third[:10])
    # The storm: the batch endpoint, single trash calls inside batches and batchModify
    # all answer 429 / 403 rateLimitExceeded / 503 for a while.
    gmail.fail("messages.batchModify", 429, times=2, retry_after=30)
    gmail.fail("batch", 429, times=1, retry_after=120)
    gmail.fail("messages.trash", 403, reason="userRateLimitExceeded", times=30)
    gmail.fail("messages.batchModify", 503, times=1)

    summaries = drain(alice_gmail.account)

    assert len(summaries) == 6  # 2 x 429, batch 429, 30 trash refusals, 503, then through
    assert gmail.count("messages.trash", status=403) == 30
    changes = _changes(alice_gmail.account)
    assert [c.status for c in changes] == [ChangeStatus.DONE] * 4
    assert max(c.attempts for c in changes) < 8  # OUTBOX_MAX_ATTEMPTS: nothing gave up
    mailbox = alice_gmail.mailbox
    in_inbox = mailbox.ids_with("INBOX")
    unarchived = {g for g, c in convs[80:90]}
    assert in_inbox == unarchived
    assert mailbox.ids_with("TRASH") == {g for g, _ in convs[40:80]}
    assert len(ids) == 130 and all(g in mailbox.messages for g in ids)
