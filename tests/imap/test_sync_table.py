"""ARCHITECTURE.md §1, "Sync behaviour between the app and the external mail client",
row by row against a real Dovecot — for a personal and a team mailbox, on the standard
server and the fallback one (no special-use, no MOVE, no CONDSTORE/QRESYNC), with each
switch on and off.

| Action  | Done in the app                                | Done in the external client |
|---------|------------------------------------------------|-----------------------------|
| Archive | archives externally if the archive switch is on | no effect in the app        |
| Delete  | moves to Trash if the delete switch is on        | also deletes it in the app  |
"""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import (
    AuditAction,
    AuditEvent,
    ChangeStatus,
    Conversation,
    ConversationState,
    Message,
    ProviderChange,
    ProviderRef,
)
from tests.imap.conftest import ImapSetup

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]
SWITCH = pytest.mark.parametrize("switch", [True, False], ids=["switch-on", "switch-off"])


def _conversation(setup: ImapSetup, subject: str) -> Conversation:
    return Conversation.objects.get(account=setup.account, subject=subject)


def _thread(setup: ImapSetup, subject: str = "Quote for 40 seats") -> tuple[str, str]:
    """A customer's question in INBOX and the rep's reply in Sent, pulled into the app."""
    question = setup.deliver(subject=subject, sender="buyer@client.test")
    reply = setup.deliver(
        "sent",
        subject=f"Re: {subject}",
        sender=setup.account.address,
        to="buyer@client.test",
        in_reply_to=question,
        references=question,
    )
    setup.pull()
    return question, reply


# --- Archive, done in the app ------------------------------------------------------------------
@SWITCH
def test_archive_in_the_app_archives_in_the_external_mailbox_only_when_the_switch_is_on(
    mailbox: ImapSetup, switch: bool
):
    question, reply = _thread(mailbox)
    other = mailbox.deliver(subject="Unrelated")
    mailbox.pull()
    mailbox.switches(archive=switch)
    conversation = _conversation(mailbox, "Quote for 40 seats")

    services.archive_conversations(mailbox.actor, [conversation.pk])
    mailbox.push()

    if switch:
        assert mailbox.ids("archive") == [question]
        assert mailbox.ids("inbox") == [other]
        change = ProviderChange.objects.get(account=mailbox.account)
        assert change.status == ChangeStatus.DONE and change.result["moved"] == 1
        # The reference followed the message (COPYUID), so the next pull sees nothing new.
        ref = ProviderRef.objects.get(account=mailbox.account, message__message_id=question)
        assert ref.folder == mailbox.folder("archive")
    else:
        assert sorted(mailbox.ids("inbox")) == sorted([question, other])
        assert mailbox.ids("archive") == []
        assert not ProviderChange.objects.filter(account=mailbox.account).exists()
    assert mailbox.ids("sent") == [reply]  # the rep's own reply stays in Sent either way

    # Archived in the app stays archived across later syncs (decision 3).
    for _ in range(2):
        summary = mailbox.pull()
        assert summary.report.deleted == 0
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ARCHIVED
    assert conversation.message_count == 2


@SWITCH
def test_unarchive_in_the_app_moves_back_to_the_external_inbox_only_when_the_switch_is_on(
    mailbox: ImapSetup, switch: bool
):
    question, _ = _thread(mailbox)
    mailbox.switches(archive=True)
    conversation = _conversation(mailbox, "Quote for 40 seats")
    services.archive_conversations(mailbox.actor, [conversation.pk])
    mailbox.push()
    assert mailbox.ids("archive") == [question]
    mailbox.switches(archive=switch)

    services.unarchive_conversations(mailbox.actor, [conversation.pk])
    mailbox.push()
    mailbox.pull()

    if switch:
        assert mailbox.ids("inbox") == [question] and mailbox.ids("archive") == []
    else:
        assert mailbox.ids("archive") == [question] and mailbox.ids("inbox") == []
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX
    assert Message.objects.filter(account=mailbox.account).count() == 2


# --- Archive, done in the external client ------------------------------------------------------
@SWITCH
def test_archive_in_the_external_client_has_no_effect_in_the_app(mailbox: ImapSetup, switch: bool):
    mailbox.switches(archive=switch, delete=switch)
    question, _ = _thread(mailbox)
    conversation = _conversation(mailbox, "Quote for 40 seats")

    mailbox.move(question, "inbox", "archive")
    summary = mailbox.pull()

    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX
    assert conversation.message_count == 2
    assert summary.report.deleted == 0
    ref = ProviderRef.objects.get(account=mailbox.account, message__message_id=question)
    assert ref.folder == mailbox.folder("archive")  # the app knows where it went
    assert not ProviderChange.objects.filter(account=mailbox.account).exists()


@SWITCH
def test_moving_to_any_other_folder_in_the_external_client_has_no_effect_in_the_app(
    mailbox: ImapSetup, switch: bool
):
    mailbox.switches(archive=switch, delete=switch)
    question, reply = _thread(mailbox)
    with mailbox.client() as client:
        client.create_folder("Customers/Acme")

    mailbox.move(question, "inbox", "Customers/Acme")
    mailbox.move(reply, "sent", "Customers/Acme")
    summary = mailbox.pull()
    again = mailbox.pull()

    conversation = _conversation(mailbox, "Quote for 40 seats")
    assert conversation.message_count == 2 and conversation.state == ConversationState.INBOX
    assert summary.report.deleted == 0 and again.report.deleted == 0
    assert set(ProviderRef.objects.filter(account=mailbox.account).values_list("folder", flat=True)) == {
        "Customers/Acme"
    }


# --- Delete, done in the app -----------------------------------------------------------------------
@SWITCH
def test_delete_in_the_app_moves_every_copy_to_the_external_trash_only_when_the_switch_is_on(
    mailbox: ImapSetup, switch: bool
):
    question, reply = _thread(mailbox)
    other = mailbox.deliver(subject="Keep me")
    mailbox.pull()
    mailbox.switches(delete=switch)
    conversation = _conversation(mailbox, "Quote for 40 seats")

    services.delete_conversations(mailbox.actor, [conversation.pk])
    mailbox.push()

    if switch:
        assert sorted(mailbox.ids("trash")) == sorted([question, reply])
        assert mailbox.ids("inbox") == [other] and mailbox.ids("sent") == []
        assert ProviderChange.objects.get(account=mailbox.account).status == ChangeStatus.DONE
    else:
        assert sorted(mailbox.ids("inbox")) == sorted([question, other])
        assert mailbox.ids("sent") == [reply] and mailbox.ids("trash") == []
    assert not Conversation.objects.filter(pk=conversation.pk).exists()

    # Deleted in the app is never re-imported (decision 2), whether it still sits in the
    # external Inbox (switch off) or in Trash (switch on).
    for _ in range(2):
        summary = mailbox.pull()
        assert summary.report.created == 0
    assert not Message.objects.filter(account=mailbox.account, message_id__in=[question, reply]).exists()
    assert Message.objects.filter(account=mailbox.account, message_id=other).exists()


@SWITCH
def test_deleting_one_email_from_history_trashes_only_that_email(mailbox: ImapSetup, switch: bool):
    question, reply = _thread(mailbox)
    mailbox.switches(delete=switch)
    message = Message.objects.get(account=mailbox.account, message_id=reply)

    services.delete_messages(mailbox.actor, [message.pk])
    mailbox.push()
    mailbox.pull()

    assert mailbox.ids("inbox") == [question]
    assert mailbox.ids("trash") == ([reply] if switch else [])
    assert mailbox.ids("sent") == ([] if switch else [reply])
    assert list(Message.objects.filter(account=mailbox.account).values_list("message_id", flat=True)) == [
        question
    ]


# --- Delete, done in the external client -----------------------------------------------------------
@SWITCH
def test_delete_in_the_external_client_also_deletes_in_the_app(mailbox: ImapSetup, switch: bool):
    mailbox.switches(archive=switch, delete=switch)
    question, reply = _thread(mailbox)
    conversation = _conversation(mailbox, "Quote for 40 seats")

    mailbox.move(reply, "sent", "trash")
    first = mailbox.pull()

    conversation.refresh_from_db()
    assert conversation.message_count == 1 and first.report.deleted == 1
    assert not Message.objects.filter(account=mailbox.account, message_id=reply).exists()

    mailbox.move(question, "inbox", "trash")
    second = mailbox.pull()

    # The conversation goes with its last message, and the deletion is on record.
    assert second.report.deleted == 1
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    audit = AuditEvent.objects.filter(account=mailbox.account, action=AuditAction.EXTERNAL_DELETE)
    assert audit.count() == 2
    # Nothing is pushed back: the user's own delete is not echoed to the provider.
    assert not ProviderChange.objects.filter(account=mailbox.account).exists()
    # And a later sync does not bring it back from Trash.
    assert mailbox.pull().report.created == 0


@SWITCH
def test_message_removed_from_every_folder_is_deleted_in_the_app(mailbox: ImapSetup, switch: bool):
    mailbox.switches(archive=switch, delete=switch)
    question = mailbox.deliver(subject="Spam-ish")
    kept = mailbox.deliver(subject="Real lead")
    mailbox.pull()

    mailbox.expunge(question, "inbox")
    summary = mailbox.pull()

    assert summary.report.deleted == 1
    assert list(Message.objects.filter(account=mailbox.account).values_list("message_id", flat=True)) == [
        kept
    ]
