"""Pull from a real Dovecot: initial and incremental sync, threading, direction, cursors,
UIDVALIDITY changes — on both server configurations (with and without CONDSTORE/QRESYNC)."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import Conversation, ConversationState, Direction, Message, ProviderRef
from sync.models import FolderState
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import make_message

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def _messages(setup: ImapSetup) -> list[Message]:
    return list(Message.objects.filter(account=setup.account).order_by("sent_at"))


def test_initial_sync_imports_inbox_and_sent_within_the_past_days_range(mailbox: ImapSetup):
    old = timezone.now() - timedelta(days=mailbox.account.sync_past_days + 10)
    question = mailbox.deliver(subject="Pricing", sender="buyer@client.test")
    mailbox.deliver(
        "sent",
        subject="Re: Pricing",
        sender=mailbox.account.address,
        to="buyer@client.test",
        in_reply_to=question,
        references=question,
    )
    _, ancient = make_message(subject="Ancient")
    mailbox.append("inbox", ancient, when=old)
    mailbox.deliver("archive", subject="Archived long ago")

    summary = mailbox.pull()

    # Both Date headers can fall in the same second: compare by subject, not by order.
    messages = {m.subject: m for m in _messages(mailbox)}
    assert sorted(messages) == ["Pricing", "Re: Pricing"]
    assert messages["Pricing"].direction == Direction.INCOMING
    assert messages["Re: Pricing"].direction == Direction.OUTGOING
    assert messages["Pricing"].conversation_id == messages["Re: Pricing"].conversation_id
    assert summary.report is not None and summary.report.created == 2
    refs = dict(ProviderRef.objects.filter(account=mailbox.account).values_list("message__subject", "folder"))
    assert refs == {"Pricing": "INBOX", "Re: Pricing": mailbox.folder("sent")}


def test_incremental_sync_brings_only_new_messages(mailbox: ImapSetup):
    mailbox.deliver(subject="First")
    mailbox.pull()
    mailbox.deliver(subject="Second")

    summary = mailbox.pull()
    again = mailbox.pull()

    assert sorted(m.subject for m in _messages(mailbox)) == ["First", "Second"]
    assert summary.report.created == 1 and summary.report.duplicates == 0
    assert again.report.created == 0
    state = FolderState.objects.get(account=mailbox.account, folder="INBOX")
    assert state.uidnext == 3 and state.role == "inbox"


def test_cursor_uses_highestmodseq_when_the_server_offers_condstore(imap: ImapSetup):
    imap.deliver(subject="One")
    imap.pull()
    assert FolderState.objects.get(account=imap.account, folder="INBOX").highestmodseq is not None


def test_cursor_works_without_condstore(dovecot_fallback, acme, alice, bob):
    setup = make_setup(dovecot_fallback, "personal", acme=acme, alice=alice, bob=bob)
    setup.deliver(subject="One")
    setup.pull()
    state = FolderState.objects.get(account=setup.account, folder="INBOX")
    assert state.highestmodseq is None and state.extra["exists"] == 1


def test_seen_flag_becomes_read_state(imap: ImapSetup):
    imap.deliver(subject="Read already", flags=(b"\\Seen",))
    imap.pull()
    assert Conversation.objects.get(account=imap.account).is_read is True


def test_reply_in_inbox_threads_onto_the_sent_message(mailbox: ImapSetup):
    sent = mailbox.deliver("sent", subject="Offer", sender=mailbox.account.address, to="buyer@client.test")
    mailbox.pull()
    mailbox.deliver(subject="Re: Offer", sender="buyer@client.test", in_reply_to=sent, references=sent)
    mailbox.pull()
    assert Conversation.objects.filter(account=mailbox.account).count() == 1
    assert Conversation.objects.get(account=mailbox.account).message_count == 2


def test_uidvalidity_change_brings_no_duplicates_and_no_deletions(imap: ImapSetup):
    first = imap.deliver(subject="Kept")
    imap.deliver(subject="Also kept")
    imap.pull()
    before = {m.message_id: m.pk for m in _messages(imap)}

    server = imap.user.server
    subprocess.run(
        ["doveadm", "-c", str(server.config_file), "mailbox", "update", "-u", imap.user.login,
         "--uid-validity", "4242", "INBOX"],
        check=True, user=server.run_as.pw_uid, group=server.run_as.pw_gid,
    )  # fmt: skip
    imap.deliver(subject="New after the change")
    summary = imap.pull()

    after = {m.message_id: m.pk for m in _messages(imap)}
    assert {k: v for k, v in after.items() if k in before} == before  # same rows, none deleted
    assert len(after) == 3 and summary.report.deleted == 0 and summary.report.created == 1
    ref = ProviderRef.objects.get(account=imap.account, message__message_id=first)
    assert ref.uidvalidity == 4242 and ref.key == f"imap:INBOX:4242:{ref.uid}"
    assert FolderState.objects.get(account=imap.account, folder="INBOX").uidvalidity == 4242
    assert not ProviderRef.objects.filter(account=imap.account).exclude(uidvalidity=4242).exists()


def test_after_a_renumbering_the_reference_names_the_live_copy_not_a_deleted_leftover(imap: ImapSetup):
    message_id, raw = make_message(subject="Quote", to=imap.account.address)
    imap.append("inbox", raw, flags=(b"\\Deleted",))  # another client's leftover, not expunged yet
    imap.append("inbox", raw)  # the live copy, at a higher UID
    imap.pull()
    server = imap.user.server
    subprocess.run(
        ["doveadm", "-c", str(server.config_file), "mailbox", "update", "-u", imap.user.login,
         "--uid-validity", "4343", "INBOX"],
        check=True, user=server.run_as.pw_uid, group=server.run_as.pw_gid,
    )  # fmt: skip

    summary = imap.pull()

    live_uid = imap.uid_of(imap.mua(), message_id, "inbox")  # the UNDELETED one
    ref = ProviderRef.objects.get(account=imap.account, message__message_id=message_id)
    assert (ref.uidvalidity, ref.uid) == (4343, live_uid)
    assert summary.report.deleted == 0 and summary.report.created == 0
    imap.expunge_all()  # the leftover goes; the reference still names a message
    assert imap.pull().report.deleted == 0
    assert ProviderRef.objects.get(account=imap.account, message__message_id=message_id).uid == live_uid


def test_new_message_in_a_conversation_archived_in_the_app_returns_it_to_the_inbox(mailbox: ImapSetup):
    from inbox import services

    first = mailbox.deliver(subject="Deal talk")
    mailbox.pull()
    conversation = Conversation.objects.get(account=mailbox.account)
    services.archive_conversations(mailbox.actor, [conversation.pk])
    mailbox.pull()
    assert Conversation.objects.get(pk=conversation.pk).state == ConversationState.ARCHIVED

    mailbox.deliver(subject="Re: Deal talk", in_reply_to=first, references=first)
    mailbox.pull()

    assert Conversation.objects.get(pk=conversation.pk).state == ConversationState.INBOX


def test_deleted_in_the_app_stays_deleted_through_a_full_resync(imap: ImapSetup):
    from inbox import services

    gone = imap.deliver(subject="Delete me")
    kept = imap.deliver(subject="Keep me")
    imap.pull()
    conversation = Conversation.objects.get(account=imap.account, subject="Delete me")
    services.delete_conversations(imap.actor, [conversation.pk])  # delete switch off: stays in INBOX

    server = imap.user.server
    subprocess.run(
        ["doveadm", "-c", str(server.config_file), "mailbox", "update", "-u", imap.user.login,
         "--uid-validity", "999", "INBOX"],
        check=True, user=server.run_as.pw_uid, group=server.run_as.pw_gid,
    )  # fmt: skip  # every UID is new: the pull re-reads the whole folder
    summary = imap.pull()

    assert summary.report.created == 0 and summary.report.tombstoned == 1
    assert {m.message_id for m in _messages(imap)} == {kept}
    assert gone in imap.ids("inbox")
