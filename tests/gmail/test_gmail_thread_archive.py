"""Conversation-level archive: Gmail shows a thread in the Inbox while any of its messages
has INBOX, so archiving in the app archives the whole Gmail thread — also its messages the
app does not know. Unarchive puts INBOX back on the app's messages only; trash stays exact."""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import ChangeStatus, ProviderChange
from sync.providers.gmail import push as gmail_push
from sync.push import push_account
from tests.gmail.helpers import seeded, seeded_many

pytestmark = pytest.mark.django_db


def reply_in_thread(mailbox, mail, gmail_id, **kwargs) -> str:  # type: ignore[no-untyped-def]
    """A message of the same Gmail thread the app has not pulled (yet)."""
    raw, _ = mail.make(subject="Re: Pricing", **kwargs)
    return mailbox.deliver(raw, thread_id=mailbox.messages[gmail_id].thread_id)


def test_archive_in_the_app_archives_the_whole_gmail_thread(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True)
    mailbox = alice_gmail.mailbox
    known_id, conversation = seeded(alice_gmail.account, mailbox, mail)
    unknown_reply = reply_in_thread(mailbox, mail, known_id)
    unrelated_id, _ = seeded(alice_gmail.account, mailbox, mail)

    services.archive_conversations(alice_gmail.actor, [conversation])
    assert push_account(alice_gmail.account.pk).done == 1

    assert "INBOX" not in mailbox.labels_of(known_id)
    assert "INBOX" not in mailbox.labels_of(unknown_reply)  # else Gmail still shows the thread
    assert "INBOX" in mailbox.labels_of(unrelated_id)
    (change,) = ProviderChange.objects.filter(account=alice_gmail.account)
    assert change.result == {"archived": 1, "other Inbox messages of the threads archived": 1}


def test_archiving_many_conversations_archives_every_inbox_message_of_their_threads(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True)
    mailbox = alice_gmail.mailbox
    convs = seeded_many(alice_gmail.account, mailbox, mail, gmail_push.THREAD_CALLS_LIMIT + 15)
    replies = [reply_in_thread(mailbox, mail, gmail_id) for gmail_id, _ in convs[:5]]
    unrelated_id, _ = seeded(alice_gmail.account, mailbox, mail)

    services.archive_conversations(alice_gmail.actor, [c for _, c in convs])
    assert push_account(alice_gmail.account.pk).done == 1

    assert mailbox.ids_with("INBOX") == {unrelated_id}
    assert all("INBOX" not in mailbox.labels_of(r) for r in replies)
    # many threads: one ids-and-threads listing of the Inbox and batchModify, no call per thread
    assert gmail.count("threads.modify") == 0
    (listing,) = gmail.calls_to("messages.list")
    assert listing.params["labelIds"] == ["INBOX"] and listing.params["fields"] == [
        gmail_push.INBOX_LIST_FIELDS
    ]
    assert sorted(c.ids for c in gmail.calls_to("messages.batchModify")) == [5, 40]


def test_unarchive_puts_only_the_apps_messages_back_in_the_inbox(gmail, alice_gmail, mail):
    alice_gmail.switches(archive=True)
    mailbox = alice_gmail.mailbox
    known_id, conversation = seeded(alice_gmail.account, mailbox, mail)
    unknown_reply = reply_in_thread(mailbox, mail, known_id)
    services.archive_conversations(alice_gmail.actor, [conversation])
    push_account(alice_gmail.account.pk)

    services.unarchive_conversations(alice_gmail.actor, [conversation])
    push_account(alice_gmail.account.pk)

    assert "INBOX" in mailbox.labels_of(known_id)
    assert "INBOX" not in mailbox.labels_of(unknown_reply)
    assert set(ProviderChange.objects.values_list("status", flat=True)) == {ChangeStatus.DONE}


def test_trash_moves_only_the_messages_the_app_knows(gmail, alice_gmail, mail):
    alice_gmail.switches(delete=True)
    mailbox = alice_gmail.mailbox
    known_id, conversation = seeded(alice_gmail.account, mailbox, mail)
    unknown_reply = reply_in_thread(mailbox, mail, known_id)

    services.delete_conversations(alice_gmail.actor, [conversation])
    push_account(alice_gmail.account.pk)

    assert "TRASH" in mailbox.labels_of(known_id)
    assert mailbox.labels_of(unknown_reply) == {"INBOX", "UNREAD"}
    assert gmail.count("threads.modify") == 0
