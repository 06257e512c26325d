"""Conversation-level archive: archiving in the app moves every Inbox message of the Outlook
conversation (conversationId) to Archive, also those the app never imported; trash stays
exact — only the messages the app knows."""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import ChangeStatus, ProviderChange, ProviderRef
from sync.providers.outlook import push as outlook_push
from sync.pull import pull_account
from sync.push import push_account
from tests.factories import switches
from tests.outlook.conftest import deliver, outlook_personal

pytestmark = pytest.mark.django_db


def _deliver(mailbox, folder: str = "inbox", days_ago: float = 1, **fields):  # type: ignore[no-untyped-def]
    """A day old unless the test says otherwise."""
    return deliver(mailbox, folder, days_ago=days_ago, **fields)


def _thread(account, mailbox, alice):  # type: ignore[no-untyped-def]
    """An Outlook conversation: one Inbox message the app never imported, one it did, a
    reply in Sent Items; and another conversation."""
    # The first message is older than the sync range: in Outlook's Inbox, never imported.
    old = _deliver(mailbox, days_ago=400, subject="Tender", message_id="<tender@client.test>")
    known = _deliver(
        mailbox, subject="Re: Tender", in_reply_to="<tender@client.test>", message_id="<tender-2@client.test>"
    )
    sent = _deliver(
        mailbox,
        folder="sentitems",
        subject="Re: Tender",
        sender=alice.email,
        to=["kim@client.test"],
        in_reply_to="<tender-2@client.test>",
        references=["<tender@client.test>", "<tender-2@client.test>"],
    )
    other = _deliver(mailbox, subject="Unrelated")
    assert not pull_account(account.pk).error
    return old, known, sent, other


def test_archive_moves_every_inbox_message_of_the_outlook_conversation(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    old, known, sent, other = _thread(account, mailbox, alice)
    assert not ProviderRef.objects.filter(key=old).exists()  # outside the sync range
    conversation_id = ProviderRef.objects.get(key=known).message.conversation_id
    services.archive_conversations(alice, [conversation_id])
    assert push_account(account.pk).done == 1
    assert mailbox.folder_of(known) == mailbox.folder_of(old) == "archive"
    assert mailbox.folder_of(sent) == "sentitems"  # archive only takes what is in the Inbox
    assert mailbox.folder_of(other) == "inbox"
    change = ProviderChange.objects.get(account=account)
    assert change.status == ChangeStatus.DONE and change.result["conversation_moves"] == 1
    # and the next pull sees nothing to do
    report = pull_account(account.pk).report
    assert report.deleted == 0 and report.created == 0


def test_trash_moves_only_the_messages_the_app_knows(ms, alice):
    switches(alice, delete=True)
    account, mailbox = outlook_personal(ms, alice)
    old, known, sent, other = _thread(account, mailbox, alice)
    conversation_id = ProviderRef.objects.get(key=known).message.conversation_id
    services.delete_conversations(alice, [conversation_id])
    assert push_account(account.pk).done == 1
    assert mailbox.folder_of(known) == mailbox.folder_of(sent) == "deleteditems"
    assert mailbox.folder_of(old) == "inbox"  # never in the app: not the app's to delete
    assert mailbox.folder_of(other) == "inbox"
    assert ms.count("list") == 0


def test_archive_moves_every_inbox_message_of_a_conversation_longer_than_one_page(ms, alice, monkeypatch):
    monkeypatch.setattr(outlook_push, "CONVERSATION_PAGE", 2)
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    # Five earlier messages of the conversation, older than the sync range: never imported.
    earlier = [_deliver(mailbox, days_ago=405, subject="Tender", message_id="<tender-0@client.test>")]
    earlier += [
        _deliver(mailbox, days_ago=405 - i, subject="Re: Tender", in_reply_to="<tender-0@client.test>")
        for i in range(1, 5)
    ]
    known = _deliver(mailbox, subject="Re: Tender", in_reply_to="<tender-0@client.test>")
    assert not pull_account(account.pk).error
    conversation_id = ProviderRef.objects.get(key=known).message.conversation_id
    services.archive_conversations(alice, [conversation_id])

    assert push_account(account.pk).done == 1

    assert {mailbox.folder_of(m) for m in [known, *earlier]} == {"archive"}
    assert ProviderChange.objects.get(account=account).result["conversation_moves"] == 5
