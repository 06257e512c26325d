"""Outlook: a permanent delete is a delete, a move out of the mailbox is not. Deleted only on
evidence — the message is now in Deleted Items or in Recoverable Items Deletions (where
Shift+Delete and emptying Deleted Items put it); a bare 404 (an item moved to the online
archive mailbox gets a new id, even an immutable one) is recorded and has no effect."""

from __future__ import annotations

import pytest

from inbox.models import Conversation, ProviderRef
from sync.models import FolderState
from sync.providers.outlook import OutlookAdapter
from tests.outlook.conftest import deliver, outlook_personal, pull

pytestmark = pytest.mark.django_db


def test_shift_delete_of_an_archived_message_deletes_it_in_the_app(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = deliver(mailbox, subject="Filed, then purged")
    pull(account)
    mailbox.move(graph_id, "archive")
    pull(account)
    conversation_id = ProviderRef.objects.get(key=graph_id).message.conversation_id
    mailbox.delete_forever(graph_id)
    assert pull(account).deleted == 1
    assert not Conversation.objects.filter(pk=conversation_id).exists()


def test_emptying_deleted_items_deletes_what_the_app_still_had_there(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = deliver(mailbox, subject="Trashed while the app was down")
    other = deliver(mailbox, subject="Stays")
    pull(account)
    mailbox.move(graph_id, "deleteditems")
    mailbox.expire_delta("deleteditems")  # its arrival in Deleted Items was never seen
    mailbox.expire_delta("inbox")
    mailbox.empty_deleted_items()
    assert pull(account).deleted == 1
    assert not ProviderRef.objects.filter(key=graph_id).exists()
    assert ProviderRef.objects.filter(key=other).exists()


def test_an_item_moved_to_the_online_archive_is_not_deleted_and_its_404_is_recorded(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = deliver(mailbox, subject="Old deal")
    pull(account)
    new_id = mailbox.move_to_online_archive(graph_id)
    assert new_id != graph_id
    report = pull(account)
    assert report.deleted == 0
    assert ProviderRef.objects.filter(key=graph_id).exists()
    assert ms.count("get", status=404, in_batch=True) == 1
    assert any("no longer found" in note for note in report.notes)
    vanished = FolderState.objects.get(account=account, folder="").extra["vanished"]
    assert vanished == [graph_id]


def test_a_message_purged_from_the_store_is_a_bare_404_and_has_no_effect(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = deliver(mailbox, subject="Purged by retention")
    pull(account)
    mailbox.purge(graph_id)
    assert pull(account).deleted == 0
    assert ProviderRef.objects.filter(key=graph_id).exists()


def test_the_fake_changes_an_id_on_a_move_without_immutable_ids(ms, alice):
    """What the adapter is held to: without Prefer: IdType="ImmutableId" a move changes the id."""
    account, mailbox = outlook_personal(ms, alice)
    graph_id = deliver(mailbox, subject="Moves")
    adapter = OutlookAdapter(account)
    session = adapter.session
    headers = {"Authorization": f"Bearer {adapter.tokens.access_token()}"}
    url = adapter.graph.url(f"/messages/{graph_id}/move")
    answer = session.post(url, json={"destinationId": "archive"}, headers=headers, timeout=10).json()
    assert answer["id"] != graph_id and mailbox.folder_of(answer["id"]) == "archive"
    assert mailbox.folder_of(graph_id) is None
    assert ms.calls_without_immutable_id == 1


def test_the_adapters_own_moves_keep_the_immutable_id(ms, alice):
    from inbox import services
    from sync.push import push_account
    from tests.factories import switches

    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    graph_id = deliver(mailbox, subject="Archive me")
    pull(account)
    services.archive_conversations(alice, [ProviderRef.objects.get(key=graph_id).message.conversation_id])
    push_account(account.pk)
    assert mailbox.folder_of(graph_id) == "archive"
    assert ms.calls_without_immutable_id == 0
    assert pull(account).deleted == 0
    assert ProviderRef.objects.get(key=graph_id).folder == "archive"
