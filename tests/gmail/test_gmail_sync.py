"""The sync table of ARCHITECTURE.md §1 for Gmail, through pull_account / push_account and
the real Gmail API client, for alice's own Gmail and a shared team Gmail (``setup``), with
both positions of the switches.

| Action  | Done in the app                                  | Done in Gmail          |
|---------|--------------------------------------------------|------------------------|
| Archive | archived in Gmail if the archive switch is on    | no effect in the app   |
| Delete  | moved to Gmail's Trash if the delete switch is on| also deleted in the app|
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inbox import services
from inbox.models import (
    AccountStatus,
    AuditAction,
    AuditEvent,
    Conversation,
    ConversationState,
    Direction,
    Message,
    ProviderRef,
    Tombstone,
)
from inbox.services.mailboxes import resume_mailbox
from sync.models import QuarantinedMessage
from sync.pull import pull_account
from sync.push import push_account
from tests.gmail.helpers import arrive, conversation_of, cursor, pull

pytestmark = pytest.mark.django_db

ON_OFF = pytest.mark.parametrize("switch", [True, False], ids=["switch-on", "switch-off"])


def synced(setup, mail, **kwargs) -> tuple[str, Conversation]:  # type: ignore[no-untyped-def]
    """A message that arrived in Gmail and was pulled into the app."""
    gmail_id = arrive(setup, mail, **kwargs)
    assert pull(setup).created == 1
    conversation = conversation_of(setup.account, gmail_id)
    assert conversation is not None
    return gmail_id, conversation


# --- the first sync --------------------------------------------------------------------


def test_first_sync_imports_inbox_and_sent_mail_of_the_past_days(gmail, setup, mail):
    setup.account.sync_past_days = 30
    setup.account.save(update_fields=["sync_past_days"])
    now = datetime.now(UTC)
    inbox_id = arrive(setup, mail, subject="Quote request", when=now - timedelta(days=2))
    raw, _ = mail.make(subject="Our offer", sender=setup.account.address, to="buyer@client.test")
    sent_id = setup.mailbox.deliver(raw, labels=["SENT"])
    old_id = arrive(setup, mail, subject="Last year", when=now - timedelta(days=45))
    for labels in (["SPAM"], ["TRASH"], ["DRAFT"], ["Label_3"]):
        raw, _ = mail.make(subject=f"Not synced {labels[0]}", to=setup.account.address)
        setup.mailbox.deliver(raw, labels=labels)

    report = pull(setup)

    assert report.created == 2
    inbox_ref = ProviderRef.objects.get(account=setup.account, key=inbox_id)
    assert inbox_ref.folder == "INBOX"
    assert inbox_ref.thread_id == setup.mailbox.messages[inbox_id].thread_id
    assert inbox_ref.message.subject == "Quote request"
    assert inbox_ref.message.direction == Direction.INCOMING
    sent_ref = ProviderRef.objects.get(account=setup.account, key=sent_id)
    assert sent_ref.folder == "SENT" and sent_ref.message.direction == Direction.OUTGOING
    assert not ProviderRef.objects.filter(account=setup.account, key=old_id).exists()
    assert cursor(setup) == str(setup.mailbox.history_id)
    # labels and sizes first, then the raw content, both through HTTP batches only; the
    # listing asked Gmail for the range
    gets = gmail.calls_to("messages.get")
    assert sorted(c.params["format"][0] for c in gets) == ["minimal", "minimal", "raw", "raw"]
    assert all(c.in_batch for c in gets)
    since = int((now - timedelta(days=30)).timestamp())
    listings = gmail.calls_to("messages.list")
    assert sorted(c.params["labelIds"][0] for c in listings) == ["INBOX", "SENT"]
    assert all(abs(int(c.params["q"][0].removeprefix("after:")) - since) < 60 for c in listings)


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_first_sync_fetches_raw_mail_in_http_batches_of_at_most_50(gmail, alice_gmail, mail):
    for n in range(120):
        arrive(alice_gmail, mail, subject=f"Lead {n}")

    report = pull(alice_gmail)

    assert report.created == 120
    # sizes (format=minimal), then the raw mail: small messages, so batches of 50 each time
    assert [c.ids for c in gmail.calls_to("batch")] == [50, 50, 20, 50, 50, 20]
    # Gmail's own batch path, not the discovery document's https://gmail.googleapis.com/batch
    assert {c.path for c in gmail.calls_to("batch")} == {"/batch/gmail/v1"}
    assert Conversation.objects.filter(account=alice_gmail.account).count() == 120


def test_listings_and_history_are_read_page_by_page(gmail, alice_gmail, mail):
    gmail.page_size = 7
    for n in range(16):
        arrive(alice_gmail, mail, subject=f"First {n}")
    assert pull(alice_gmail).created == 16
    assert gmail.count("messages.list") == 3 + 1  # INBOX in 3 pages, SENT (empty) in 1
    for n in range(16):
        arrive(alice_gmail, mail, subject=f"Later {n}")

    assert pull(alice_gmail).created == 16
    assert gmail.count("history.list") == 3
    assert cursor(alice_gmail) == str(alice_gmail.mailbox.history_id)


def test_a_reply_in_gmail_joins_its_conversation(gmail, setup, mail):
    raw, mid = mail.make(subject="Demo next week?", to=setup.account.address)
    setup.mailbox.deliver(raw)
    pull(setup)
    raw, _ = mail.make(subject="Re: Demo next week?", in_reply_to=mid, to=setup.account.address)
    reply_id = setup.mailbox.deliver(raw)

    report = pull(setup)

    assert report.created == 1
    conversation = conversation_of(setup.account, reply_id)
    assert conversation.message_count == 2
    assert Conversation.objects.filter(account=setup.account).count() == 1
    assert gmail.count("history.list") == 1


# --- Archive done in the app ------------------------------------------------------------


@ON_OFF
def test_archive_in_app_archives_in_gmail_only_when_the_switch_is_on(gmail, setup, mail, switch):
    setup.switches(archive=switch)
    gmail_id, conversation = synced(setup, mail)

    services.archive_conversations(setup.actor, [conversation.pk])
    push_account(setup.account.pk)

    assert ("INBOX" in setup.mailbox.labels_of(gmail_id)) is not switch
    assert gmail.count("threads.modify") == (1 if switch else 0)
    # later syncs neither re-import it nor bring it back to the Inbox
    assert pull(setup).created == 0
    arrive(setup, mail, subject="Unrelated")
    assert pull(setup).created == 1
    setup.mailbox.expire_history()
    assert pull(setup).created == 0  # a full resync (it may still be in the Gmail Inbox)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ARCHIVED
    assert Message.objects.filter(conversation=conversation).count() == 1


@ON_OFF
def test_unarchive_in_app_moves_back_to_the_gmail_inbox_only_when_the_switch_is_on(
    gmail, setup, mail, switch
):
    setup.switches(archive=switch)
    gmail_id, conversation = synced(setup, mail)
    setup.mailbox.archive(gmail_id)  # archived in Gmail (no effect in the app) ...
    services.archive_conversations(setup.actor, [conversation.pk])  # ... and in the app
    pull(setup)

    services.unarchive_conversations(setup.actor, [conversation.pk])
    push_account(setup.account.pk)

    assert ("INBOX" in setup.mailbox.labels_of(gmail_id)) is switch
    pull(setup)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX


# --- Delete done in the app ---------------------------------------------------------------


@ON_OFF
def test_delete_in_app_moves_to_gmail_trash_only_when_the_switch_is_on(gmail, setup, mail, switch):
    setup.switches(delete=switch)
    gmail_id, conversation = synced(setup, mail)

    services.delete_conversations(setup.actor, [conversation.pk])
    push_account(setup.account.pk)

    labels = setup.mailbox.labels_of(gmail_id)
    assert ("TRASH" in labels) is switch
    assert ("INBOX" in labels) is not switch
    assert gmail_id in setup.mailbox.messages  # never deleted for good
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


@ON_OFF
def test_mail_deleted_in_app_is_never_imported_again(gmail, setup, mail, switch):
    setup.switches(delete=switch)
    gmail_id, conversation = synced(setup, mail)
    services.delete_conversations(setup.actor, [conversation.pk])
    push_account(setup.account.pk)
    setup.mailbox.add_labels(gmail_id, "STARRED")  # history touches it again
    assert pull(setup).created == 0

    # Gmail's history expires: a full resync lists it again (it is still in the Inbox
    # when the switch is off; restored from the Trash when it was on).
    if switch:
        setup.mailbox.untrash(gmail_id)
    setup.mailbox.expire_history()
    report = pull(setup)

    assert report.created == 0 and report.tombstoned == 1
    assert not ProviderRef.objects.filter(account=setup.account, key=gmail_id).exists()
    assert Tombstone.objects.filter(account=setup.account, provider_key=gmail_id).exists()


# --- Archive done in Gmail ------------------------------------------------------------------


@ON_OFF
def test_archive_in_gmail_has_no_effect_in_the_app(gmail, setup, mail, switch):
    setup.switches(archive=switch, delete=switch)
    gmail_id, conversation = synced(setup, mail)

    setup.mailbox.archive(gmail_id)
    report = pull(setup)

    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX
    assert report.deleted == 0 and report.created == 0
    assert ProviderRef.objects.filter(account=setup.account, key=gmail_id).exists()
    assert gmail.count("messages.batchModify") == 0  # and nothing is written back


def test_other_label_changes_in_gmail_have_no_effect(gmail, setup, mail):
    gmail_id, conversation = synced(setup, mail)

    setup.mailbox.add_labels(gmail_id, "Label_12", "STARRED", "IMPORTANT")
    setup.mailbox.remove_labels(gmail_id, "UNREAD")
    setup.mailbox.add_labels(gmail_id, "SPAM")  # moved to another folder, not deleted
    report = pull(setup)

    conversation.refresh_from_db()
    assert report.deleted == 0
    assert conversation.state == ConversationState.INBOX
    assert Message.objects.filter(conversation=conversation).count() == 1


# --- Delete done in Gmail -------------------------------------------------------------------


@ON_OFF
def test_delete_in_gmail_also_deletes_in_the_app(gmail, setup, mail, switch):
    setup.switches(archive=switch, delete=switch)
    trashed_id, trashed = synced(setup, mail, subject="Moved to Trash")
    purged_id, purged = synced(setup, mail, subject="Deleted for good")
    _, kept = synced(setup, mail, subject="Kept")

    setup.mailbox.trash(trashed_id)  # TRASH added and INBOX removed in one record
    setup.mailbox.delete_forever(purged_id)  # messagesDeleted
    report = pull(setup)

    assert report.deleted == 2
    assert not Conversation.objects.filter(pk__in=[trashed.pk, purged.pk]).exists()
    assert Conversation.objects.filter(pk=kept.pk).exists()
    event = AuditEvent.objects.get(account=setup.account, action=AuditAction.EXTERNAL_DELETE)
    assert "Gmail" in event.summary and event.message_count == 2
    assert gmail.count("messages.trash") == 0 and gmail.count("messages.batchModify") == 0
    # and it does not come back, even when it is taken out of the Trash in Gmail later
    setup.mailbox.untrash(trashed_id)
    assert pull(setup).created == 0


def test_deletes_archived_in_gmail_first_still_count(gmail, setup, mail):
    gmail_id, conversation = synced(setup, mail)
    setup.mailbox.archive(gmail_id)
    setup.mailbox.add_labels(gmail_id, "TRASH")

    assert pull(setup).deleted == 1
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_mail_trashed_and_restored_between_two_syncs_stays(gmail, setup, mail):
    gmail_id, conversation = synced(setup, mail)
    setup.mailbox.trash(gmail_id)
    setup.mailbox.untrash(gmail_id)

    assert pull(setup).deleted == 0
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_mail_that_arrives_and_is_trashed_between_two_syncs_is_not_imported(gmail, setup, mail):
    synced(setup, mail)
    gmail_id = arrive(setup, mail, subject="Spammy offer")
    setup.mailbox.trash(gmail_id)
    gmail.calls.clear()

    report = pull(setup)

    assert report.created == 0
    assert gmail.count("messages.get") == 0
    assert not ProviderRef.objects.filter(account=setup.account, key=gmail_id).exists()


# --- stays archived ------------------------------------------------------------------------


def test_archived_conversation_stays_archived_until_a_new_message_arrives(gmail, setup, mail):
    raw, mid = mail.make(subject="Contract", to=setup.account.address)
    gmail_id = setup.mailbox.deliver(raw)
    pull(setup)
    conversation = conversation_of(setup.account, gmail_id)
    services.archive_conversations(setup.actor, [conversation.pk])

    setup.mailbox.add_labels(gmail_id, "STARRED")
    setup.mailbox.remove_labels(gmail_id, "UNREAD")
    pull(setup)
    setup.mailbox.expire_history()
    pull(setup)  # a full resync sees it in the Gmail Inbox again
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ARCHIVED

    raw, _ = mail.make(subject="Re: Contract", in_reply_to=mid, to=setup.account.address)
    setup.mailbox.deliver(raw)
    pull(setup)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX
    assert conversation.message_count == 2


# --- guard, errors, quarantine ----------------------------------------------------------------


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_mass_delete_in_gmail_pauses_the_account_until_resumed(gmail, alice_gmail, mail, alice):
    ids = [arrive(alice_gmail, mail, subject=f"Deal {n}") for n in range(40)]
    pull(alice_gmail)
    for gmail_id in ids[:30]:
        alice_gmail.mailbox.trash(gmail_id)

    report = pull(alice_gmail)

    alice_gmail.account.refresh_from_db()
    assert report.paused and report.deleted == 0
    assert alice_gmail.account.status == AccountStatus.PAUSED
    assert Message.objects.filter(account=alice_gmail.account).count() == 40
    assert pull_account(alice_gmail.account.pk).skipped_reason  # no sync while paused

    alice_gmail.mailbox.untrash(ids[0])  # alice looks, restores one, and resumes
    resume_mailbox(alice, alice_gmail.account.pk)
    report = pull(alice_gmail)

    assert report.deleted == 29
    assert Message.objects.filter(account=alice_gmail.account).count() == 11
    assert ProviderRef.objects.filter(account=alice_gmail.account, key=ids[0]).exists()


def test_rate_limited_fetch_keeps_the_cursor_and_the_next_pull_finishes(gmail, setup, mail):
    synced(setup, mail)
    start = cursor(setup)
    new_ids = [arrive(setup, mail, subject=f"Burst {n}") for n in range(3)]
    gmail.fail("messages.get", 429, retry_after=30, in_batch=True)

    summary = pull_account(setup.account.pk)

    assert "429" in summary.error
    assert cursor(setup) == start
    assert sum(conversation_of(setup.account, g) is not None for g in new_ids) == 2
    report = pull(setup)
    assert report.created == 1 and report.duplicates == 2
    assert all(conversation_of(setup.account, g) is not None for g in new_ids)
    assert cursor(setup) == str(setup.mailbox.history_id)


def test_a_message_without_content_is_quarantined_and_the_sync_goes_on(gmail, setup, mail):
    empty_id = setup.mailbox.deliver(b"")
    fine_id = arrive(setup, mail, subject="Fine")

    report = pull(setup)

    assert report.quarantined == 1 and report.created == 1
    row = QuarantinedMessage.objects.get(account=setup.account)
    assert row.provider_key == empty_id and "without its content" in row.reason
    assert conversation_of(setup.account, fine_id) is not None


def test_lite_plan_never_touches_gmail(gmail, alice_gmail, mail, acme):
    from accounts.models import Plan

    arrive(alice_gmail, mail)
    acme.plan = Plan.LITE
    acme.save()

    assert pull_account(alice_gmail.account.pk).skipped_reason
    assert gmail.calls == []
