"""Outlook mail above Graph's 4 MB request limit (``sendMail`` takes the whole MIME in one
request): the message without its files becomes a draft (MIME, so the app's Message-ID,
In-Reply-To and References stay), each file is attached — by an upload session in chunks
below 4 MB from 3 MB on — and the draft is sent. Against the Graph fake, which keeps the
draft, the sessions and the Sent Items copy as Graph does. Exactly once as for sendMail:
the draft's id and internetMessageId are recorded before the send, and a retry looks in
Sent Items first; a half-built draft left by a failed attempt is deleted and built again,
a ready one whose send never left is reused."""

from __future__ import annotations

import base64
import email
import email.policy
import random

import pytest
from django.utils import timezone

from inbox.models import Conversation, Message, OutgoingMessage, ProviderChange, SendStage, SendState
from inbox.services.compose import ComposeInput, send_message, set_compose_settings
from inbox.services.compose_files import Upload
from sync.providers.outlook import OutlookAdapter
from sync.providers.outlook.client import GraphRequestError
from sync.pull import pull_account
from sync.push import push_account
from tests.fakes.graph_server import FakeMailbox, FakeMicrosoft, make_mime
from tests.outlook.conftest import outlook_personal, outlook_team

pytestmark = pytest.mark.django_db

CUSTOMER = "dana@client.test"
MB = 1024 * 1024


def _bytes(size: int) -> bytes:
    """Bytes that do not compress and are not text: every byte must arrive as it was."""
    return random.Random(size).randbytes(size)


@pytest.fixture
def question(ms: FakeMicrosoft, alice) -> tuple[Conversation, FakeMailbox]:
    set_compose_settings(alice, signature_html="", undo_seconds=0)
    ms.add_mailbox(CUSTOMER)
    account, mailbox = outlook_personal(ms, alice)
    mailbox.deliver(make_mime(subject="Pricing question", sender=f"Dana <{CUSTOMER}>", to=[account.address]))
    pull_account(account.pk)
    return Conversation.objects.get(account=account), mailbox


def _reply_with(conversation: Conversation, user, *files: Upload) -> OutgoingMessage:  # type: ignore[no-untyped-def]
    asked = conversation.messages.get(direction="in")
    return send_message(
        user,
        ComposeInput(
            conversation_id=conversation.pk,
            reply_to_id=asked.pk,
            mode="reply",
            to=CUSTOMER,
            bcc="boss@client.test",
            subject="Re: Pricing question",
            html="<p>The catalogue is attached.</p>",
            uploads=files,
        ),
    )


def _parsed(mailbox: FakeMailbox, folder: str) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(mailbox.messages[key].mime, policy=email.policy.default)
        for key in sorted(mailbox.ids_in(folder))
    ]


def _files(message: email.message.EmailMessage) -> dict[str, bytes]:
    return {str(p.get_filename()): p.get_payload(decode=True) for p in message.iter_attachments()}


def _due_now(outgoing: OutgoingMessage) -> None:
    ProviderChange.objects.filter(pk=outgoing.change_id).update(next_attempt_at=timezone.now())


CATALOGUE = Upload("catalogue.bin", "application/octet-stream", _bytes(12 * MB))
PRICES = Upload("prices.csv", "text/csv", b"item;price\nwidget;10\n" * 500)


def test_a_12_mb_file_from_outlook_arrives_byte_for_byte_once_in_sent_items_and_threaded(
    ms: FakeMicrosoft, alice, question: tuple[Conversation, FakeMailbox]
):
    conversation, mailbox = question
    asked = conversation.messages.get(direction="in")
    outgoing = _reply_with(conversation, alice, CATALOGUE, PRICES)

    push_account(conversation.account_id)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and outgoing.stage == SendStage.FILED
    mid = outgoing.message.message_id
    (sent,) = _parsed(mailbox, "sentitems")
    (received,) = _parsed(ms.mailboxes[CUSTOMER], "inbox")
    expected = {"catalogue.bin": CATALOGUE.data, "prices.csv": PRICES.data}
    assert _files(sent) == expected and _files(received) == expected
    assert sent["Message-ID"] == received["Message-ID"] == mid
    assert received["In-Reply-To"] == asked.message_id and received["Bcc"] is None
    assert "boss@client.test" in mailbox.sent_log[0]["recipients"]
    assert mailbox.ids_in("drafts") == set()  # the draft left with the send
    assert ms.count("create") == 1 and ms.count("send") == 1 and ms.count("attach") == 1
    uploads = ms.calls_of("upload")
    assert [c.status for c in uploads] == [200, 200, 200, 201]  # 12 MB in chunks of 3.75 MB
    assert not any(c.path.endswith("/sendMail") for c in ms.calls)

    pull_account(conversation.account_id)  # the Sent Items copy comes back: the same message
    assert Message.objects.filter(account=conversation.account, message_id=mid).count() == 1


def test_a_lost_answer_to_the_drafts_send_is_found_in_sent_items_and_not_sent_twice(
    ms: FakeMicrosoft, alice, question: tuple[Conversation, FakeMailbox]
):
    conversation, mailbox = question
    ms.lose_send_response()
    outgoing = _reply_with(conversation, alice, CATALOGUE)

    push_account(conversation.account_id)  # the draft was sent; the answer never came

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENDING and outgoing.stage == SendStage.DATA_SENT
    assert (
        outgoing.result["draft_ready"]
        and outgoing.result["internet_message_id"] == outgoing.message.message_id
    )
    _due_now(outgoing)

    push_account(conversation.account_id)  # the retry looks in Sent Items first

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and outgoing.stage == SendStage.FILED
    assert len(mailbox.sent_log) == 1 and ms.count("send") == 1 and ms.count("create") == 1
    (received,) = _parsed(ms.mailboxes[CUSTOMER], "inbox")
    assert _files(received) == {"catalogue.bin": CATALOGUE.data}
    assert len(_parsed(mailbox, "sentitems")) == 1 and mailbox.ids_in("drafts") == set()


def test_a_draft_left_half_built_by_a_failed_attempt_is_deleted_and_built_again(
    ms: FakeMicrosoft, alice, question: tuple[Conversation, FakeMailbox]
):
    conversation, mailbox = question
    ms.fail("upload_session", status=503)  # Graph is busy when the file's session is asked
    outgoing = _reply_with(conversation, alice, CATALOGUE)

    push_account(conversation.account_id)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENDING and outgoing.stage == SendStage.NONE
    first_draft = outgoing.result["draft_id"]
    assert not outgoing.result.get("draft_ready") and mailbox.ids_in("drafts") == {first_draft}
    pull_account(conversation.account_id)  # a pull meanwhile leaves the draft alone (Drafts is not mail)
    assert Message.objects.filter(message_id=outgoing.message.message_id).count() == 1
    _due_now(outgoing)

    push_account(conversation.account_id)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and outgoing.result["draft_id"] != first_draft
    assert first_draft not in mailbox.messages and mailbox.ids_in("drafts") == set()
    assert ms.count("delete") == 1 and ms.count("create") == 2 and len(mailbox.sent_log) == 1
    (received,) = _parsed(ms.mailboxes[CUSTOMER], "inbox")
    assert _files(received) == {"catalogue.bin": CATALOGUE.data}


def test_a_ready_draft_whose_send_never_left_is_reused(
    ms: FakeMicrosoft, alice, question: tuple[Conversation, FakeMailbox]
):
    conversation, mailbox = question
    ms.fail("send", status=429, retry_after="1")  # "slow down": definitely not sent
    outgoing = _reply_with(conversation, alice, CATALOGUE)

    push_account(conversation.account_id)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENDING and outgoing.stage == SendStage.NONE
    draft = outgoing.result["draft_id"]
    assert outgoing.result["draft_ready"] and mailbox.ids_in("drafts") == {draft}
    _due_now(outgoing)

    push_account(conversation.account_id)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and outgoing.result["draft_id"] == draft
    assert ms.count("create") == 1 and ms.count("delete") == 0 and len(ms.calls_of("upload")) == 4
    assert len(mailbox.sent_log) == 1 and mailbox.ids_in("drafts") == set()


def test_a_shared_team_mailbox_sends_large_mail_from_its_own_drafts_as_the_team_address(
    ms: FakeMicrosoft, alice, bob
):
    set_compose_settings(bob, signature_html="", undo_seconds=0)
    ms.add_mailbox(CUSTOMER)
    account, team = outlook_team(ms, alice.company, [alice, bob], shared_by=alice)
    team.deliver(make_mime(subject="Pricing question", sender=f"Dana <{CUSTOMER}>", to=[account.address]))
    pull_account(account.pk)
    outgoing = _reply_with(Conversation.objects.get(account=account), bob, CATALOGUE)

    push_account(account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT
    (sent,) = _parsed(team, "sentitems")
    assert sent["From"].addresses[0].addr_spec == "sales@acme.test"
    assert _files(sent) == {"catalogue.bin": CATALOGUE.data}
    assert ms.calls_of("create")[0].path == "/v1.0/users/sales%40acme.test/messages"
    assert ms.mailboxes[alice.email].sent_log == [] and ms.mailboxes[alice.email].ids_in("drafts") == set()


def test_graph_refuses_a_sendmail_above_4_mb_as_graph_does(ms: FakeMicrosoft, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph = OutlookAdapter(account).graph
    mime = make_mime(subject="Big", sender=account.address, to=[CUSTOMER]).as_bytes() + b"x" * (3 * MB + 1024)
    with pytest.raises(GraphRequestError, match="413"):
        graph.request("POST", graph.url("/sendMail"), data=base64.b64encode(mime), content_type="text/plain")
    assert mailbox.sent_log == []
