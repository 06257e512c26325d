"""Files on mail written in the app: uploads and a forward's original attachments leave as
MIME parts through each provider (SMTP into the customer's Dovecot mailbox, Gmail and Graph
against their fakes), are kept with the sent message (opening one asks no provider), are
refused above the download caps before anything is queued, and the pulled Sent copy adds
nothing."""

from __future__ import annotations

import email
import email.policy

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from inbox.errors import InvalidRequest
from inbox.models import Attachment, Conversation, Draft, Message, OutgoingMessage, SendState
from inbox.services.compose import ComposeInput, send_message, set_compose_settings
from inbox.services.compose_files import Upload
from sync.pull import pull_account
from sync.push import push_account
from tests.attachment_mail import CHART, EXPECTED, PDF, export_message, sha
from tests.fakes.graph_server import FakeMicrosoft
from tests.outlook.conftest import outlook_personal
from tests.smtp.conftest import Sending

pytestmark = pytest.mark.django_db

QUOTE = Upload("quote.pdf", "application/pdf", b"%PDF-1.4 the quote\n%%EOF\n")


def _files(raw: bytes) -> dict[str, str]:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return {part.get_filename(): sha(part.get_content()) for part in parsed.iter_attachments()}


@pytest.fixture(autouse=True)
def no_undo_delay(alice):
    set_compose_settings(alice, signature_html="", undo_seconds=0)


@pytest.mark.dovecot
def test_an_uploaded_file_reaches_the_customer_through_smtp_and_stays_with_the_sent_message(
    sending: Sending, client: Client, alice
):
    sending.rep.deliver(subject="Pricing question", sender=sending.customer.login)
    sending.rep.pull()
    conversation = Conversation.objects.get(account=sending.rep.account)
    data = ComposeInput(
        conversation_id=conversation.pk, reply_to_id=conversation.messages.get().pk, mode="reply",
        to=sending.customer.login, subject="Re: Pricing question", html="<p>Attached.</p>",
        uploads=(QUOTE, Upload("chart.png", "", CHART)),
    )  # fmt: skip

    outgoing = send_message(alice, data)
    push_account(sending.rep.account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT
    received = sending.customer_message(outgoing.message.message_id)
    assert received.get_content_type() == "multipart/mixed"
    assert _files(received.as_bytes()) == {"quote.pdf": sha(QUOTE.data), "chart.png": sha(CHART)}
    assert "Attached." in received.get_body(("plain",)).get_content()
    rows = list(Attachment.objects.filter(message=outgoing.message).order_by("position"))
    assert [(r.filename, r.content_type, r.is_kept) for r in rows] == [
        ("quote.pdf", "application/pdf", True),
        ("chart.png", "image/png", True),
    ]
    conversation.refresh_from_db()
    assert conversation.has_attachments

    sending.rep.pull()  # the Sent copy: the same message, no second set of files
    assert (
        Message.objects.filter(account=sending.rep.account, message_id=outgoing.message.message_id).count()
        == 1
    )
    assert (
        Attachment.objects.filter(message__account=sending.rep.account, message__direction="out").count() == 2
    )


@pytest.mark.dovecot
def test_forward_takes_the_originals_attachments_along(sending: Sending, alice):
    sending.rep.append("inbox", export_message(to=sending.rep.account.address))
    sending.rep.pull()
    original = Message.objects.get(account=sending.rep.account)
    data = ComposeInput(
        conversation_id=original.conversation_id, reply_to_id=original.pk, mode="forward",
        to=sending.customer.login, subject="Fwd: The full export", html="<p>FYI</p>",
    )  # fmt: skip

    outgoing = send_message(alice, data)
    push_account(sending.rep.account.pk)

    received = sending.customer_message(OutgoingMessage.objects.get(pk=outgoing.pk).message.message_id)
    assert _files(received.as_bytes()) == EXPECTED
    assert received["In-Reply-To"] is None  # a forward starts its own thread


@pytest.mark.dovecot
def test_forward_without_the_attachments_when_unticked(sending: Sending, alice):
    sending.rep.append("inbox", export_message(to=sending.rep.account.address))
    sending.rep.pull()
    original = Message.objects.get(account=sending.rep.account)
    outgoing = send_message(
        alice,
        ComposeInput(conversation_id=original.conversation_id, reply_to_id=original.pk, mode="forward",
                     to=sending.customer.login, subject="Fwd", html="<p>FYI</p>", forward_files=False),
    )  # fmt: skip
    assert _files(bytes(outgoing.raw)) == {}


@pytest.mark.dovecot
def test_a_file_above_the_cap_is_refused_by_name_and_nothing_is_queued(sending: Sending, alice, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    with pytest.raises(InvalidRequest, match=r"“big\.bin” is .* above the 1 KB limit"):
        send_message(
            alice,
            ComposeInput(account_id=sending.rep.account.pk, to=sending.customer.login, subject="Big",
                         html="x", uploads=(Upload("big.bin", "", b"x" * 5000),)),
        )  # fmt: skip
    settings.ATTACHMENT_MAX_BYTES = 10_000
    settings.ATTACHMENT_MESSAGE_MAX_BYTES = 8000
    with pytest.raises(InvalidRequest, match="add up to"):
        send_message(
            alice,
            ComposeInput(account_id=sending.rep.account.pk, to=sending.customer.login, subject="B", html="x",
                         uploads=(Upload("a.bin", "", b"x" * 5000), Upload("b.bin", "", b"x" * 5000))),
        )  # fmt: skip
    assert not OutgoingMessage.objects.exists() and not Conversation.objects.exists()


def test_outlook_sends_the_files_and_forwards_an_outlook_messages_attachments(ms: FakeMicrosoft, alice):
    account, mailbox = outlook_personal(ms, alice)
    customer = ms.add_mailbox("dana@client.test")
    mailbox.deliver(export_message(to=account.address))
    pull_account(account.pk)
    original = Message.objects.get(account=account)

    forward = send_message(
        alice,
        ComposeInput(conversation_id=original.conversation_id, reply_to_id=original.pk, mode="forward",
                     to="dana@client.test", subject="Fwd: The full export", html="<p>FYI</p>",
                     uploads=(QUOTE,)),
    )  # fmt: skip
    push_account(account.pk)

    forward.refresh_from_db()
    assert forward.state == SendState.SENT
    (received,) = [m.mime for m in customer.messages.values()]
    assert _files(received) == {**EXPECTED, "quote.pdf": sha(QUOTE.data)}
    assert sha(PDF) == _files(received)["export.pdf"]


def _post(client: Client, fields: dict[str, object]):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("inbox:compose_send"), {"action": "send", "html": "<p>See attached.</p>", **fields}
    )


@pytest.mark.dovecot
def test_files_attached_in_the_editor_survive_undo_and_leave_with_the_next_send(
    sending: Sending, client: Client, alice, django_capture_on_commit_callbacks
):
    set_compose_settings(alice, signature_html="", undo_seconds=10)
    client.force_login(alice)
    fields = {
        "mode": "new",
        "account_id": sending.rep.account.pk,
        "to": sending.customer.login,
        "subject": "Quote",
    }
    _post(client, {**fields, "files": [SimpleUploadedFile("quote.pdf", QUOTE.data, "application/pdf")]})
    outgoing = OutgoingMessage.objects.get()
    assert _files(bytes(outgoing.raw)) == {"quote.pdf": sha(QUOTE.data)}

    with django_capture_on_commit_callbacks(execute=True):
        undone = client.post(reverse("inbox:send_undo", args=[outgoing.pk]))
    draft = Draft.objects.get()
    assert [f["filename"] for f in draft.files] == ["quote.pdf"]
    assert default_storage.exists(draft.files[0]["name"])  # the bytes changed hands, not deleted
    assert "Remove quote.pdf" in client.get(undone["Location"]).content.decode()

    set_compose_settings(alice, signature_html="", undo_seconds=0)
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, {**fields, "draft_id": draft.pk})
    push_account(sending.rep.account.pk)

    sent = OutgoingMessage.objects.get()
    assert sent.state == SendState.SENT
    assert _files(sending.customer_message(sent.message.message_id).as_bytes()) == {
        "quote.pdf": sha(QUOTE.data)
    }
    assert not Draft.objects.exists() and not default_storage.exists(draft.files[0]["name"])


@pytest.mark.dovecot
def test_a_refused_send_keeps_the_uploaded_file_on_the_form_and_a_file_can_be_removed(
    sending: Sending, client: Client, alice
):
    client.force_login(alice)
    fields = {"mode": "new", "account_id": sending.rep.account.pk, "subject": "Quote"}
    refused = _post(
        client, {**fields, "to": "not-an-address", "files": [SimpleUploadedFile("quote.pdf", b"pdf")]}
    )

    assert refused.status_code == 400 and "is not an e-mail address" in refused.content.decode()
    draft = Draft.objects.get()
    assert (
        "Remove quote.pdf" in refused.content.decode() and f'value="{draft.pk}"' in refused.content.decode()
    )

    _post(client, {**fields, "to": sending.customer.login, "draft_id": draft.pk, "remove_file": "0"})
    assert _files(bytes(OutgoingMessage.objects.get().raw)) == {}


@pytest.mark.dovecot
def test_the_forward_page_offers_the_originals_attachments_and_unticking_leaves_them_out(
    sending: Sending, client: Client, alice
):
    sending.rep.append("inbox", export_message(to=sending.rep.account.address))
    sending.rep.pull()
    original = Message.objects.get(account=sending.rep.account)
    client.force_login(alice)
    page = client.get(reverse("inbox:reply", args=[original.conversation_id]), {"mode": "forward"})
    html = page.content.decode()
    assert 'name="forward_files" value="1" checked' in html and "export.pdf" in html

    _post(client, {"mode": "forward", "conversation_id": original.conversation_id, "reply_to_id": original.pk,
                   "account_id": sending.rep.account.pk, "to": sending.customer.login, "subject": "Fwd",
                   "forward_files_shown": "1"})  # fmt: skip
    assert _files(bytes(OutgoingMessage.objects.get().raw)) == {}
