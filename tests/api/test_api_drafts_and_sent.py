"""Pipedrive v1 shapes for mail written in the app: a thread with the user's draft is in
the ``drafts`` folder with has_draft_flag, a message sent from the app has
sent_from_pipedrive_flag and sent_flag only once it has left; drafts are the author's own."""

from __future__ import annotations

from inbox.models import OutgoingMessage, SendState
from inbox.services.compose import ComposeInput, save_draft, send_message, set_compose_settings
from tests.factories import parsed, receive


def test_drafts_folder_lists_threads_with_the_users_draft(alice, alice_api, bob_api, alice_mailbox):
    asked = receive(
        alice_mailbox, parsed(subject="Quote", sender="dana@client.test", to=(alice_mailbox.address,))
    )
    receive(alice_mailbox, parsed(subject="Other", sender="erik@client.test", to=(alice_mailbox.address,)))
    save_draft(
        alice,
        ComposeInput(
            conversation_id=asked.conversation_id, mode="reply", to="dana@client.test", html="<p>wip</p>"
        ),
    )

    drafts = alice_api.get("/mailbox/mailThreads", folder="drafts")
    assert [t["id"] for t in drafts.data] == [asked.conversation_id]
    assert drafts.data[0]["has_draft_flag"] == 1 and "drafts" in drafts.data[0]["folders"]
    inbox = {t["id"]: t for t in alice_api.get("/mailbox/mailThreads", folder="inbox").data}
    assert inbox[asked.conversation_id]["has_draft_flag"] == 1
    assert [t["has_draft_flag"] for i, t in inbox.items() if i != asked.conversation_id] == [0]
    assert bob_api.get("/mailbox/mailThreads", folder="drafts").data == []


def test_a_message_sent_from_the_app_is_sent_only_once_it_has_left(alice, alice_api, alice_mailbox):
    set_compose_settings(alice, signature_html="", undo_seconds=10)
    outgoing = send_message(
        alice, ComposeInput(account_id=alice_mailbox.pk, to="dana@client.test", subject="Hi", html="<p>x</p>")
    )
    thread_id = outgoing.message.conversation_id

    (waiting,) = alice_api.get(f"/mailbox/mailThreads/{thread_id}/mailMessages").data
    assert (
        waiting["sent_from_pipedrive_flag"] == 1 and waiting["sent_flag"] == 0 and waiting["draft_flag"] == 0
    )
    assert waiting["mua_message_id"] == outgoing.message.message_id

    OutgoingMessage.objects.filter(pk=outgoing.pk).update(state=SendState.SENT)
    sent = alice_api.get(f"/mailbox/mailMessages/{outgoing.message_id}").data
    assert sent["sent_flag"] == 1 and sent["sent_from_pipedrive_flag"] == 1
    assert thread_id in [t["id"] for t in alice_api.get("/mailbox/mailThreads", folder="sent").data]
