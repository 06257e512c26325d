"""ARCHITECTURE.md §1, "Sync behaviour between the app and the external mail client",
row by row against real IMAP servers — the server matrix of issue 14 (tests/imap/servers/):

* ``a-standard`` Dovecot with everything; ``fallback`` Dovecot with guessed folder names and
  no MOVE/CONDSTORE/QRESYNC/SPECIAL-USE (both for a personal and a team mailbox);
* ``b-nomove`` Dovecot with neither MOVE nor UIDPLUS; ``c-localized`` "INBOX." prefix, "."
  separator, German names, no SPECIAL-USE; ``d-gmail`` Gmail-style All Mail (``\\All``) and no
  ``\\Archive``; ``e-cyrus`` Cyrus IMAP — each for a personal mailbox;

with each switch on and off. After every push step each message has exactly one live copy
across all folders (``setup.placement()``, tests/imap/live_copies.py), and the placement of
*every* message at the server is asserted, not only the one the step was about.

| Action  | Done in the app                                | Done in the external client |
|---------|------------------------------------------------|-----------------------------|
| Archive | archives externally if the archive switch is on | no effect in the app        |
| Delete  | moves to Trash if the delete switch is on        | also deletes it in the app  |
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.models import Company, User
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
from sync.models import UnplacedMessage
from tests.imap.conftest import ImapSetup, make_setup, require_cyrus, server
from tests.imap.dovecot import Dovecot

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot, pytest.mark.matrix]
SWITCH = pytest.mark.parametrize("switch", [True, False], ids=["switch-on", "switch-off"])

# (server variant, mailbox kind): team mailboxes differ from personal ones in the app, not at
# the server, so the new servers run the table for a personal mailbox only.
MATRIX = {
    "a-standard-personal": ("standard", "personal"),
    "a-standard-team": ("standard", "team"),
    "fallback-personal": ("fallback", "personal"),
    "fallback-team": ("fallback", "team"),
    "b-nomove-personal": ("nomove", "personal"),
    "c-localized-personal": ("localized", "personal"),
    "d-gmail-personal": ("gmail", "personal"),
    "e-cyrus-personal": ("cyrus", "personal"),
}


@pytest.fixture(params=list(MATRIX.values()), ids=list(MATRIX))
def mailbox(
    request: pytest.FixtureRequest,
    dovecot_servers: dict[str, Dovecot],
    acme: Company,
    alice: User,
    bob: User,
) -> Iterator[ImapSetup]:
    variant, kind = request.param
    if variant == "cyrus":
        require_cyrus()
    setup = make_setup(server(dovecot_servers, variant), kind, acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


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


def _push(setup: ImapSetup) -> None:
    """One push step, then the invariant: exactly one live copy of each message."""
    setup.push()
    setup.placement()


def _is_gmail_style(setup: ImapSetup) -> bool:
    return setup.user.server.variant == "gmail"


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
    _push(mailbox)

    # The rep's own reply stays in Sent either way.
    if switch:
        assert mailbox.placement() == {question: "archive", other: "inbox", reply: "sent"}
        change = ProviderChange.objects.get(account=mailbox.account)
        assert change.status == ChangeStatus.DONE and change.result["moved"] == 1
        # The reference followed the message, so the next pull sees nothing new.
        ref = ProviderRef.objects.get(account=mailbox.account, message__message_id=question)
        assert ref.folder == mailbox.folder("archive")
    else:
        assert mailbox.placement() == {question: "inbox", other: "inbox", reply: "sent"}
        assert not ProviderChange.objects.filter(account=mailbox.account).exists()

    # Archived in the app stays archived across later syncs (decision 3).
    for _ in range(2):
        summary = mailbox.pull()
        assert summary.report.deleted == 0 and summary.report.created == 0
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ARCHIVED
    assert conversation.message_count == 2


@SWITCH
def test_unarchive_in_the_app_moves_back_to_the_external_inbox_only_when_the_switch_is_on(
    mailbox: ImapSetup, switch: bool
):
    question, reply = _thread(mailbox)
    mailbox.switches(archive=True)
    conversation = _conversation(mailbox, "Quote for 40 seats")
    services.archive_conversations(mailbox.actor, [conversation.pk])
    _push(mailbox)
    assert mailbox.placement() == {question: "archive", reply: "sent"}
    mailbox.switches(archive=switch)

    services.unarchive_conversations(mailbox.actor, [conversation.pk])
    _push(mailbox)
    mailbox.pull()

    assert mailbox.placement() == {question: "inbox" if switch else "archive", reply: "sent"}
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX
    assert Message.objects.filter(account=mailbox.account).count() == 2


def test_a_new_reply_brings_an_archived_conversation_back_to_the_inbox(mailbox: ImapSetup):
    question, reply = _thread(mailbox)
    mailbox.switches(archive=True)
    conversation = _conversation(mailbox, "Quote for 40 seats")
    services.archive_conversations(mailbox.actor, [conversation.pk])
    _push(mailbox)

    answer = mailbox.deliver(
        subject="Re: Quote for 40 seats", sender="buyer@client.test", in_reply_to=reply, references=reply
    )
    summary = mailbox.pull()
    _push(mailbox)

    assert summary.report.created == 1 and summary.report.deleted == 0
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX  # decision 3: a new message un-archives
    assert conversation.message_count == 3
    placed = mailbox.placement([question, reply, answer])
    assert placed[answer] == "inbox" and placed[reply] == "sent"
    assert placed[question] in ("archive", "inbox")  # moved back or not: never lost, never doubled


# --- Archive, done in the external client ------------------------------------------------------
@SWITCH
def test_archive_in_the_external_client_has_no_effect_in_the_app(mailbox: ImapSetup, switch: bool):
    mailbox.switches(archive=switch, delete=switch)
    question, reply = _thread(mailbox)
    conversation = _conversation(mailbox, "Quote for 40 seats")

    mailbox.move(question, "inbox", "archive")
    summary = mailbox.pull()
    again = mailbox.pull()

    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX
    assert conversation.message_count == 2
    assert summary.report.deleted == 0 and again.report.deleted == 0
    ref = ProviderRef.objects.get(account=mailbox.account, message__message_id=question)
    assert ref.folder == mailbox.folder("archive")  # the app knows where it went
    assert not ProviderChange.objects.filter(account=mailbox.account).exists()
    assert mailbox.placement() == {question: "archive", reply: "sent"}


@SWITCH
def test_moving_to_any_other_folder_in_the_external_client_has_no_effect_in_the_app(
    mailbox: ImapSetup, switch: bool
):
    mailbox.switches(archive=switch, delete=switch)
    question, reply = _thread(mailbox)
    acme_folder = mailbox.custom_folder("Customers", "Acme")
    with mailbox.client() as client:
        client.create_folder(acme_folder)

    mailbox.move(question, "inbox", acme_folder)
    mailbox.move(reply, "sent", acme_folder)
    summary = mailbox.pull()
    again = mailbox.pull()

    conversation = _conversation(mailbox, "Quote for 40 seats")
    assert conversation.message_count == 2 and conversation.state == ConversationState.INBOX
    assert summary.report.deleted == 0 and again.report.deleted == 0
    folders = set(ProviderRef.objects.filter(account=mailbox.account).values_list("folder", flat=True))
    # On a Gmail-style server the same message is also in All Mail: either is where it is.
    assert folders == {acme_folder} or (
        _is_gmail_style(mailbox) and folders <= {acme_folder, mailbox.folder("archive")}
    )
    assert mailbox.placement() == {question: acme_folder, reply: acme_folder}


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
    _push(mailbox)

    if switch:
        assert mailbox.placement() == {question: "trash", reply: "trash", other: "inbox"}
        assert ProviderChange.objects.get(account=mailbox.account).status == ChangeStatus.DONE
    else:
        assert mailbox.placement() == {question: "inbox", reply: "sent", other: "inbox"}
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
    _push(mailbox)
    mailbox.pull()

    assert mailbox.placement() == {question: "inbox", reply: "trash" if switch else "sent"}
    assert list(Message.objects.filter(account=mailbox.account).values_list("message_id", flat=True)) == [
        question
    ]


@SWITCH
def test_archive_unarchive_then_delete_in_the_app_leaves_one_copy_in_trash(mailbox: ImapSetup, switch: bool):
    question, reply = _thread(mailbox)
    mailbox.switches(archive=switch, delete=switch)
    conversation = _conversation(mailbox, "Quote for 40 seats")

    services.archive_conversations(mailbox.actor, [conversation.pk])
    _push(mailbox)
    services.unarchive_conversations(mailbox.actor, [conversation.pk])
    _push(mailbox)
    services.delete_conversations(mailbox.actor, [conversation.pk])
    _push(mailbox)

    expected = {question: "trash", reply: "trash"} if switch else {question: "inbox", reply: "sent"}
    assert mailbox.placement() == expected
    # Another mail client compacts every folder: whatever was left flagged goes, the live
    # copies stay where they are.
    mailbox.expunge_all()
    assert mailbox.placement() == expected
    assert mailbox.pull().report.created == 0


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
    assert mailbox.placement() == {question: "trash", reply: "trash"}


@SWITCH
def test_message_removed_from_every_folder_is_deleted_in_the_app_after_two_checks(
    mailbox: ImapSetup, switch: bool
):
    mailbox.switches(archive=switch, delete=switch)
    question = mailbox.deliver(subject="Spam-ish")
    kept = mailbox.deliver(subject="Real lead")
    mailbox.pull()

    mailbox.expunge(question, "inbox")
    first = mailbox.pull()

    # Decision 7: one complete check that finds no live copy proves nothing yet.
    assert first.report.deleted == 0
    assert Message.objects.filter(account=mailbox.account, message_id=question).exists()
    assert UnplacedMessage.objects.filter(account=mailbox.account).count() == 1

    second = mailbox.pull()

    assert second.report.deleted == 1
    assert list(Message.objects.filter(account=mailbox.account).values_list("message_id", flat=True)) == [
        kept
    ]
    assert not UnplacedMessage.objects.filter(account=mailbox.account).exists()
    assert mailbox.pull().report.created == 0
    assert mailbox.placement() == {kept: "inbox"}
