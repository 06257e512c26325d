"""ARCHITECTURE.md §1 "Sync behaviour between the app and the external mail client", row by
row for Outlook: personal and team mailboxes, each switch on and off, across later syncs.

| Action  | Done in the app                                  | Done in Outlook              |
| Archive | archives in Outlook if the archive switch is on  | no effect in the app         |
| Delete  | moves to Deleted Items if the delete switch is on | also deletes it in the app   |

plus decision 2 (never re-imported), 3 (stays archived until a new message) and 4
(unarchive moves it back to the Outlook Inbox when the archive switch is on).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from accounts.models import User
from inbox import services
from inbox.models import ChangeStatus, ConversationState, MailAccount, Message, ProviderChange, ProviderRef
from sync.pull import pull_account
from sync.push import push_account
from tests.factories import switches
from tests.fakes.graph_server import FakeMailbox
from tests.outlook.conftest import outlook_personal, outlook_team

pytestmark = pytest.mark.django_db


@dataclass
class Box:
    account: MailAccount
    mailbox: FakeMailbox
    actor: User  # who archives and deletes
    set_switches: Callable[..., object]

    def sync(self) -> None:
        summary = pull_account(self.account.pk)
        assert not summary.error and not summary.skipped_reason, summary.line()

    def push(self) -> None:
        push_account(self.account.pk)

    def receive(self, subject: str, **fields: object) -> str:
        graph_id = self.mailbox.deliver(subject=subject, to=[self.mailbox.address], **fields)
        self.sync()
        return graph_id

    def conversation_of(self, graph_id: str):  # type: ignore[no-untyped-def]
        return ProviderRef.objects.get(account=self.account, key=graph_id).message.conversation


@pytest.fixture(params=["personal", "team"])
def box(request, ms, acme, alice, bob) -> Box:  # type: ignore[no-untyped-def]
    if request.param == "personal":
        account, mailbox = outlook_personal(ms, alice)
        return Box(account, mailbox, alice, lambda **s: switches(alice, **s))
    account, mailbox = outlook_team(ms, acme, [alice, bob], "sales@acme.test")
    # Team switches are the account's, set by an admin; bob (a member) does the work.
    return Box(account, mailbox, bob, lambda **s: services.set_team_switches(alice, account.pk, **s))


ON_OFF = pytest.mark.parametrize("switch_on", [True, False], ids=["switch-on", "switch-off"])


@ON_OFF
def test_archive_in_the_app_archives_in_outlook_only_with_the_switch_on(ms, box, switch_on):
    box.set_switches(archive=switch_on, delete=False)
    graph_id = box.receive("Quote request")
    conversation = box.conversation_of(graph_id)
    services.archive_conversations(box.actor, [conversation.pk])
    box.push()
    assert box.mailbox.folder_of(graph_id) == ("archive" if switch_on else "inbox")
    assert ms.count("move") == (1 if switch_on else 0)
    changes = ProviderChange.objects.filter(account=box.account)
    assert [c.status for c in changes] == ([ChangeStatus.DONE] if switch_on else [])
    # Later syncs (with Outlook reporting the message again) keep it archived: decision 3.
    box.mailbox.mark_read(graph_id)
    box.sync()
    box.sync()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ARCHIVED
    assert Message.objects.filter(account=box.account).count() == 1


@ON_OFF
def test_unarchive_in_the_app_moves_it_back_to_the_outlook_inbox_only_with_the_switch_on(ms, box, switch_on):
    box.set_switches(archive=True, delete=False)
    graph_id = box.receive("Follow-up")
    conversation = box.conversation_of(graph_id)
    services.archive_conversations(box.actor, [conversation.pk])
    box.push()
    assert box.mailbox.folder_of(graph_id) == "archive"
    box.set_switches(archive=switch_on, delete=False)
    services.unarchive_conversations(box.actor, [conversation.pk])
    box.push()
    assert box.mailbox.folder_of(graph_id) == ("inbox" if switch_on else "archive")
    box.sync()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX


@ON_OFF
def test_archive_in_outlook_has_no_effect_in_the_app(ms, box, switch_on):
    box.set_switches(archive=switch_on, delete=switch_on)
    graph_id = box.receive("Newsletter reply")
    conversation = box.conversation_of(graph_id)
    box.mailbox.move(graph_id, "archive")
    box.sync()
    box.sync()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX
    assert ProviderRef.objects.get(key=graph_id).folder == "archive"
    assert not ProviderChange.objects.filter(account=box.account).exists()
    assert ms.count("move") == 0  # the app never writes back what Outlook did


@ON_OFF
def test_delete_in_the_app_moves_it_to_outlook_deleted_items_only_with_the_switch_on(ms, box, switch_on):
    box.set_switches(archive=False, delete=switch_on)
    graph_id = box.receive("Wrong recipient")
    conversation = box.conversation_of(graph_id)
    services.delete_conversations(box.actor, [conversation.pk])
    box.push()
    assert box.mailbox.folder_of(graph_id) == ("deleteditems" if switch_on else "inbox")
    assert graph_id in box.mailbox.messages  # Deleted Items, never a purge
    assert not Message.objects.filter(account=box.account).exists()
    # Never imported again (decision 2), even when it still sits in the Outlook Inbox and
    # Outlook reports it again, or the delta state expires and the folder is read afresh.
    box.mailbox.mark_read(graph_id)
    box.sync()
    box.mailbox.expire_delta("inbox")
    box.sync()
    assert not Message.objects.filter(account=box.account).exists()
    assert ms.count("value") == 1


@ON_OFF
def test_delete_in_outlook_also_deletes_it_in_the_app(ms, box, switch_on):
    box.set_switches(archive=switch_on, delete=switch_on)
    binned = box.receive("Binned in Outlook")
    purged = box.receive("Purged in Outlook")
    kept = box.receive("Kept")
    box.mailbox.move(binned, "deleteditems")
    box.mailbox.delete_forever(purged)
    box.sync()
    assert set(ProviderRef.objects.filter(account=box.account).values_list("key", flat=True)) == {kept}
    # and the app wrote nothing back to Outlook about it
    assert not ProviderChange.objects.filter(account=box.account).exists()
    box.sync()
    assert Message.objects.filter(account=box.account).count() == 1


@ON_OFF
def test_a_new_message_brings_an_archived_conversation_back_to_the_inbox(ms, box, switch_on):
    box.set_switches(archive=switch_on, delete=False)
    graph_id = box.receive("Renewal", message_id="<renewal@client.test>")
    conversation = box.conversation_of(graph_id)
    services.archive_conversations(box.actor, [conversation.pk])
    box.push()
    box.receive("Re: Renewal", in_reply_to="<renewal@client.test>")
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX and conversation.message_count == 2
