"""Sending through Gmail (users.messages.send with threadId) against the fake, which checks
the raw MIME as Google documents it: the reply reaches the customer with the right
In-Reply-To / References and the rep's address, files in Sent in the same Gmail thread, is
not duplicated by the next pull, and the customer's answer threads into the conversation,
which keeps its deal. A retry looks for the Message-ID first (rfc822msgid:)."""

from __future__ import annotations

import base64
import email
import email.policy
import io
import random
from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from googleapiclient.http import MediaIoBaseUpload

from crm.models import Deal
from inbox.errors import InvalidRequest
from inbox.models import Conversation, Draft, Message, OutgoingMessage, ProviderChange, SendStage, SendState
from inbox.services.compose import ComposeInput, send_message, set_compose_settings
from inbox.services.compose_files import Upload
from sync.errors import ProviderPermanentError
from sync.providers.gmail.client import GmailClient
from sync.pull import pull_account
from sync.push import push_account
from tests.fakes.gmail_server import FakeGmail
from tests.gmail.conftest import GmailSetup
from tests.imap.dovecot import make_message

pytestmark = pytest.mark.django_db

CUSTOMER = "dana@client.test"
QUOTE = b"%PDF-1.4 the quote\n%%EOF\n"


@pytest.fixture
def question(gmail: FakeGmail, alice_gmail: GmailSetup, alice) -> Conversation:
    set_compose_settings(alice, signature_html="", undo_seconds=0)
    gmail.add_mailbox(CUSTOMER)
    _, raw = make_message(
        subject="Pricing question", sender=f"Dana <{CUSTOMER}>", to=alice_gmail.account.address
    )
    alice_gmail.mailbox.deliver(raw)
    pull_account(alice_gmail.account.pk)
    return Conversation.objects.get(account=alice_gmail.account)


def _reply(conversation: Conversation, alice, **extra: str) -> OutgoingMessage:
    asked = conversation.messages.get(direction="in")
    data = {
        "conversation_id": conversation.pk,
        "reply_to_id": asked.pk,
        "mode": "reply",
        "to": CUSTOMER,
        "subject": "Re: Pricing question",
        "html": "<p>Ten <b>euros</b>.</p>",
        **extra,
    }
    return send_message(alice, ComposeInput(**data))


def _customer_inbox(gmail: FakeGmail) -> list[email.message.EmailMessage]:
    box = gmail.mailboxes[CUSTOMER]
    return [
        email.message_from_bytes(m.raw, policy=email.policy.default)
        for m in box.messages.values()
        if "INBOX" in m.labels
    ]


def test_gmail_round_trip_reply_threads_and_the_answer_keeps_the_deal(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice, question: Conversation
):
    deal = Deal.objects.create(company=alice.company, title="Dana's deal")
    Conversation.objects.filter(pk=question.pk).update(deal=deal)
    asked = question.messages.get()
    outgoing = _reply(question, alice, bcc="boss@client.test")

    push_account(alice_gmail.account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and outgoing.stage == SendStage.FILED
    (received,) = _customer_inbox(gmail)
    mid = outgoing.message.message_id
    assert received["Message-ID"] == mid and received["In-Reply-To"] == asked.message_id
    assert asked.message_id in received["References"]
    assert received["From"].addresses[0].addr_spec == alice_gmail.account.address
    assert received["Bcc"] is None  # read by Gmail from the header, then stripped
    (sent,) = alice_gmail.mailbox.sent_log
    assert "boss@client.test" in sent["recipients"]
    gmail_sent = next(m for m in alice_gmail.mailbox.messages.values() if "SENT" in m.labels)
    gmail_question = next(m for m in alice_gmail.mailbox.messages.values() if "INBOX" in m.labels)
    assert gmail_sent.thread_id == gmail_question.thread_id  # threadId was honoured

    pull_account(alice_gmail.account.pk)  # Gmail's Sent copy comes back: the same message
    assert Message.objects.filter(account=alice_gmail.account, message_id=mid).count() == 1

    _, answer = make_message(
        subject="Re: Pricing question", sender=CUSTOMER, to=alice_gmail.account.address,
        in_reply_to=mid, references=f"{asked.message_id} {mid}", date=datetime.now().astimezone(),
    )  # fmt: skip
    alice_gmail.mailbox.deliver(answer)
    pull_account(alice_gmail.account.pk)
    question.refresh_from_db()
    assert question.message_count == 3 and question.deal_id == deal.pk
    assert Conversation.objects.filter(account=alice_gmail.account).count() == 1


def test_a_gmail_retry_finds_the_message_in_sent_and_does_not_send_it_again(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice, question: Conversation
):
    outgoing = _reply(question, alice)
    # The worker died after Gmail took the message, before it recorded so.
    alice_gmail.mailbox.deliver(bytes(outgoing.raw), labels=("SENT",))
    OutgoingMessage.objects.filter(pk=outgoing.pk).update(state=SendState.SENDING, stage=SendStage.DATA_SENT)
    ProviderChange.objects.filter(pk=outgoing.change_id).update(attempts=1)

    push_account(alice_gmail.account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and alice_gmail.mailbox.sent_log == []
    assert _customer_inbox(gmail) == []


def test_an_unanswered_gmail_send_not_found_in_sent_waits_for_the_user(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice, question: Conversation
):
    outgoing = _reply(question, alice)
    OutgoingMessage.objects.filter(pk=outgoing.pk).update(state=SendState.SENDING, stage=SendStage.DATA_SENT)
    ProviderChange.objects.filter(pk=outgoing.change_id).update(attempts=1)

    push_account(alice_gmail.account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.FAILED and "may still arrive" in outgoing.error
    assert alice_gmail.mailbox.sent_log == []


def test_gmail_refuses_a_message_from_someone_else_and_it_is_not_sent(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice, question: Conversation
):
    outgoing = _reply(question, alice)
    OutgoingMessage.objects.filter(pk=outgoing.pk).update(
        raw=bytes(outgoing.raw).replace(alice_gmail.account.address.encode(), b"mallory@evil.test")
    )
    push_account(alice_gmail.account.pk)
    outgoing.refresh_from_db()
    assert outgoing.state == SendState.FAILED and "From" in outgoing.error
    assert outgoing.stage == SendStage.NONE and _customer_inbox(gmail) == []


def test_gmail_sends_the_files_attached_in_the_editor(gmail: FakeGmail, alice_gmail: GmailSetup, alice):
    set_compose_settings(alice, signature_html="", undo_seconds=0)
    gmail.add_mailbox("dana@client.test")
    outgoing = send_message(
        alice,
        ComposeInput(account_id=alice_gmail.account.pk, to="dana@client.test", subject="Quote",
                     html="<p>Attached.</p>", uploads=(Upload("quote.pdf", "application/pdf", QUOTE),)),
    )  # fmt: skip
    push_account(alice_gmail.account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT
    (received,) = [
        m.raw for m in gmail.mailboxes["dana@client.test"].messages.values() if "INBOX" in m.labels
    ]
    parsed = email.message_from_bytes(received, policy=email.policy.default)
    assert {p.get_filename(): p.get_content() for p in parsed.iter_attachments()} == {"quote.pdf": QUOTE}


def _big_file(size: int) -> bytes:
    """Bytes that do not compress and are not text: every byte must arrive as it was."""
    return random.Random(size).randbytes(size)


def _quote_to_dana(alice_gmail: GmailSetup, alice, data: bytes) -> OutgoingMessage:
    return send_message(
        alice,
        ComposeInput(account_id=alice_gmail.account.pk, to=CUSTOMER, subject="The big quote",
                     html="<p>Attached.</p>", uploads=(Upload("quote.zip", "application/zip", data),)),
    )  # fmt: skip


def _received_files(gmail: FakeGmail) -> list[dict[str, bytes]]:
    return [{p.get_filename(): p.get_content() for p in m.iter_attachments()} for m in _customer_inbox(gmail)]


def test_a_12_mb_file_leaves_gmail_through_the_media_upload_byte_for_byte(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice
):
    set_compose_settings(alice, signature_html="", undo_seconds=0)
    gmail.add_mailbox(CUSTOMER)
    data = _big_file(12 * 1024 * 1024)
    outgoing = _quote_to_dana(alice_gmail, alice, data)
    assert len(outgoing.raw) > gmail.simple_send_limit  # a JSON send with raw would be refused

    push_account(alice_gmail.account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and outgoing.stage == SendStage.FILED
    assert _received_files(gmail) == [{"quote.zip": data}]
    (sent,) = [m for m in alice_gmail.mailbox.messages.values() if "SENT" in m.labels]
    assert (
        sent.message_id == outgoing.message.message_id and sent.raw == alice_gmail.mailbox.sent_log[0]["raw"]
    )
    uploads = [c for c in gmail.calls if c.endpoint == "messages.send.upload"]
    assert [c.method for c in uploads] == ["POST", "PUT", "PUT", "PUT"]  # 8 MB chunks, 308 between
    assert [c.status for c in uploads] == [200, 308, 308, 200]
    assert gmail.count("messages.send") == 0


def test_the_gmail_fake_refuses_a_simple_send_above_its_limit_as_google_does(
    gmail: FakeGmail, alice_gmail: GmailSetup
):
    client = GmailClient(alice_gmail.account)
    raw = make_message(subject="Big", sender=alice_gmail.account.address, to=CUSTOMER)[1]
    body = {"raw": base64.urlsafe_b64encode(raw + b"x" * (6 * 1024 * 1024)).decode()}
    with pytest.raises(ProviderPermanentError, match="413"):
        client.call(client.users.messages().send(userId="me", body=body))
    assert alice_gmail.mailbox.sent_log == []


def test_a_lost_answer_to_the_last_upload_chunk_is_found_in_sent_and_not_sent_again(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice
):
    set_compose_settings(alice, signature_html="", undo_seconds=0)
    gmail.add_mailbox(CUSTOMER)
    data = _big_file(12 * 1024 * 1024)
    outgoing = _quote_to_dana(alice_gmail, alice, data)
    alice_gmail.mailbox.lose_send_answer = True  # sent, then answered 503

    push_account(alice_gmail.account.pk)
    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENDING and outgoing.stage == SendStage.DATA_SENT
    ProviderChange.objects.filter(pk=outgoing.change_id).update(next_attempt_at=timezone.now())
    push_account(alice_gmail.account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and outgoing.result.get("found_in_sent")
    assert len(alice_gmail.mailbox.sent_log) == 1 and _received_files(gmail) == [{"quote.zip": data}]


def test_a_gmail_message_above_35_mb_is_refused_before_it_is_queued_naming_gmails_limit(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice
):
    set_compose_settings(alice, signature_html="", undo_seconds=0)
    files = tuple(
        Upload(f"part{i}.bin", "application/octet-stream", _big_file(9 * 1024 * 1024 + i)) for i in range(3)
    )
    with pytest.raises(InvalidRequest, match="Gmail takes at most 35 MB per message"):
        send_message(
            alice,
            ComposeInput(account_id=alice_gmail.account.pk, to=CUSTOMER, subject="Too big",
                         html="<p>x</p>", uploads=files),
        )  # fmt: skip
    assert not OutgoingMessage.objects.exists() and not ProviderChange.objects.exists()


def test_the_gmail_fake_takes_a_multipart_upload_too(gmail: FakeGmail, alice_gmail: GmailSetup):
    gmail.add_mailbox(CUSTOMER)
    client = GmailClient(alice_gmail.account)
    raw = make_message(subject="Small", sender=alice_gmail.account.address, to=CUSTOMER)[1]
    media = MediaIoBaseUpload(io.BytesIO(raw), mimetype="message/rfc822", resumable=False)
    answer = client.call(client.upload(client.users.messages().send(userId="me", body={}, media_body=media)))
    assert alice_gmail.mailbox.messages[answer["id"]].raw == raw
    assert [c.params["uploadType"] for c in gmail.calls if c.endpoint == "messages.send.upload"] == [
        ["multipart"]
    ]


def test_the_compose_page_says_gmails_35_mb_limit_and_keeps_the_files_on_the_draft(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice, client: Client
):
    set_compose_settings(alice, signature_html="", undo_seconds=0)
    client.force_login(alice)
    files = [SimpleUploadedFile(f"part{i}.bin", _big_file(9 * 1024 * 1024 + i)) for i in range(3)]
    refused = client.post(
        reverse("inbox:compose_send"),
        {"action": "send", "mode": "new", "account_id": alice_gmail.account.pk, "to": CUSTOMER,
         "subject": "Too big", "html": "<p>x</p>", "files": files},
    )  # fmt: skip

    page = refused.content.decode()
    assert refused.status_code == 400 and "Gmail takes at most 35 MB per message" in page
    assert "Remove part0.bin" in page and len(Draft.objects.get().files) == 3
    assert not OutgoingMessage.objects.exists()


def test_a_dropped_connection_is_sent_again_by_httplib2_and_the_upload_session_sends_once(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice
):
    """httplib2 repeats a request by itself when the connection closes before the answer.
    A simple JSON send repeated so goes out twice; the last PUT of an upload session
    repeated so gets the same message back. That is why the app always uploads."""
    set_compose_settings(alice, signature_html="", undo_seconds=0)
    gmail.add_mailbox(CUSTOMER)
    client = GmailClient(alice_gmail.account)
    raw = make_message(subject="Simple", sender=alice_gmail.account.address, to=CUSTOMER)[1]
    alice_gmail.mailbox.drop_send_answer = True
    client.call(
        client.users.messages().send(userId="me", body={"raw": base64.urlsafe_b64encode(raw).decode()})
    )
    assert len(alice_gmail.mailbox.sent_log) == 2  # the hazard the upload avoids

    outgoing = _quote_to_dana(alice_gmail, alice, _big_file(12 * 1024 * 1024))
    alice_gmail.mailbox.drop_send_answer = True
    push_account(alice_gmail.account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and len(alice_gmail.mailbox.sent_log) == 3
    assert len([m for m in _customer_inbox(gmail) if m["Subject"] == "The big quote"]) == 1
