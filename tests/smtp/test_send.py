"""Sending from the app through an IMAP mailbox's SMTP server (the suite's aiosmtpd, into
the customer's Dovecot mailbox), exactly once, filed in Sent, never duplicated by a pull."""

from __future__ import annotations

import pytest
from django.utils import timezone

from inbox.errors import InvalidRequest, NotAllowed
from inbox.models import (
    ChangeStatus,
    Conversation,
    Draft,
    Message,
    OutgoingMessage,
    ProviderChange,
    SendStage,
    SendState,
)
from inbox.services.compose import (
    ComposeInput,
    retry_send,
    send_message,
    set_compose_settings,
    undo_send,
)
from sync.push import push_account
from tests.smtp.conftest import Sending

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def _incoming(sending: Sending, subject: str = "Pricing question") -> Conversation:
    sending.rep.deliver(subject=subject, sender=sending.customer.login)
    sending.rep.pull()
    return Conversation.objects.get(account=sending.rep.account, subject=subject)


def _reply(sending: Sending, conversation: Conversation, html: str = "<p>It costs <b>10</b>.</p>", **extra):
    last = conversation.messages.order_by("-sent_at").first()
    data = {
        "conversation_id": conversation.pk,
        "reply_to_id": last.pk,
        "mode": "reply",
        "to": sending.customer.login,
        "subject": f"Re: {conversation.subject}",
        "html": html,
        **extra,
    }
    return send_message(sending.rep.actor, ComposeInput(**data))


@pytest.fixture(autouse=True)
def no_undo_delay(alice):
    set_compose_settings(alice, signature_html="", undo_seconds=0)


def test_reply_reaches_the_customer_once_with_threading_and_is_filed_in_sent(sending: Sending):
    conversation = _incoming(sending)
    question = conversation.messages.get()

    outgoing = _reply(sending, conversation)
    assert outgoing.state == SendState.SCHEDULED and outgoing.message.conversation_id == conversation.pk
    summary = push_account(sending.rep.account.pk)

    outgoing.refresh_from_db()
    assert summary.done == 1 and outgoing.state == SendState.SENT and outgoing.stage == SendStage.FILED
    mid = outgoing.message.message_id
    assert sending.customer_ids() == [mid]
    received = sending.customer_message(mid)
    assert received["In-Reply-To"] == question.message_id
    assert question.message_id in received["References"]
    assert received["From"].addresses[0].addr_spec == sending.rep.account.address
    assert received["Subject"] == "Re: Pricing question"
    assert received.get_content_type() == "multipart/alternative"
    assert "<b>10</b>" in received.get_body(("html",)).get_content()
    assert "It costs 10." in received.get_body(("plain",)).get_content()
    assert sending.smtp.received[0].login == sending.rep.user.login  # logged in as the rep
    assert sending.rep.ids("sent") == [mid]

    sending.rep.pull()  # the Sent copy comes back: the same message, not a second one
    assert Message.objects.filter(conversation=conversation).count() == 2
    assert Message.objects.filter(account=sending.rep.account, message_id=mid).count() == 1


def test_customers_answer_threads_into_the_same_conversation_keeping_its_deal(sending: Sending, alice):
    from crm.models import Deal

    conversation = _incoming(sending)
    deal = Deal.objects.create(company=alice.company, title="Acme renewal")
    Conversation.objects.filter(pk=conversation.pk).update(deal=deal)
    outgoing = _reply(sending, conversation)
    push_account(sending.rep.account.pk)
    outgoing.refresh_from_db()

    sending.answer(outgoing.message.message_id)
    sending.rep.pull()

    conversation.refresh_from_db()
    assert conversation.message_count == 3 and conversation.deal_id == deal.pk
    assert Conversation.objects.filter(account=sending.rep.account).count() == 1


def test_nothing_leaves_before_the_undo_delay_and_undo_returns_the_editor(sending: Sending, alice):
    set_compose_settings(alice, signature_html="", undo_seconds=10)
    conversation = _incoming(sending)
    before = timezone.now()
    outgoing = _reply(sending, conversation, html="<p>Draft one</p>")
    change = ProviderChange.objects.get(pk=outgoing.change_id)
    assert (change.next_attempt_at - before).total_seconds() >= 10

    summary = push_account(sending.rep.account.pk)  # nothing is due yet
    assert summary.done == 0 and sending.smtp.received == []

    draft = undo_send(alice, outgoing.pk)
    assert isinstance(draft, Draft) and "Draft one" in draft.html and draft.conversation_id == conversation.pk
    assert not OutgoingMessage.objects.exists() and not ProviderChange.objects.filter(pk=change.pk).exists()
    assert conversation.messages.count() == 1
    ProviderChange.objects.update(next_attempt_at=timezone.now())
    push_account(sending.rep.account.pk)
    assert sending.smtp.received == [] and sending.customer_ids() == []


def test_undo_is_refused_once_the_worker_took_the_message(sending: Sending, alice):
    conversation = _incoming(sending)
    outgoing = _reply(sending, conversation)
    push_account(sending.rep.account.pk)
    with pytest.raises(NotAllowed):
        undo_send(alice, outgoing.pk)
    assert len(sending.customer_ids()) == 1


def test_a_new_message_starts_a_conversation_in_sent(sending: Sending, alice):
    outgoing = send_message(
        alice,
        ComposeInput(
            account_id=sending.rep.account.pk,
            to=f"Customer <{sending.customer.login}>",
            subject="Hello",
            html="<p>Hi</p>",
        ),
    )
    push_account(sending.rep.account.pk)
    conversation = outgoing.message.conversation
    conversation.refresh_from_db()
    assert conversation.has_outgoing and conversation.message_count == 1
    assert sending.customer_ids() == [outgoing.message.message_id]


def test_a_refused_recipient_sends_nothing_and_says_why(sending: Sending):
    conversation = _incoming(sending)
    sending.smtp.refuse_rcpt.add("nobody@imap.test")
    outgoing = _reply(sending, conversation, cc="nobody@imap.test")
    push_account(sending.rep.account.pk)
    outgoing.refresh_from_db()
    assert outgoing.state == SendState.FAILED and "refused 1 recipient" in outgoing.error
    assert sending.customer_ids() == [] and sending.rep.ids("sent") == []
    assert ProviderChange.objects.get(pk=outgoing.change_id).status == ChangeStatus.FAILED


def test_an_attempt_that_broke_off_during_data_is_not_resent_until_the_user_retries(sending: Sending, alice):
    conversation = _incoming(sending)
    outgoing = _reply(sending, conversation)
    # As a worker leaves it when killed between handing the message over and the answer.
    OutgoingMessage.objects.filter(pk=outgoing.pk).update(state=SendState.SENDING, stage=SendStage.DATA_SENT)
    ProviderChange.objects.filter(pk=outgoing.change_id).update(attempts=1)

    push_account(sending.rep.account.pk)
    outgoing.refresh_from_db()
    assert outgoing.state == SendState.FAILED and "may have been sent" in outgoing.error
    assert sending.smtp.received == []

    retry_send(alice, outgoing.pk)
    push_account(sending.rep.account.pk)
    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and len(sending.customer_ids()) == 1


def test_a_retry_after_the_server_accepted_only_files_it_in_sent(sending: Sending):
    conversation = _incoming(sending)
    outgoing = _reply(sending, conversation)
    OutgoingMessage.objects.filter(pk=outgoing.pk).update(state=SendState.SENDING, stage=SendStage.ACCEPTED)
    ProviderChange.objects.filter(pk=outgoing.change_id).update(attempts=1)

    push_account(sending.rep.account.pk)
    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT
    assert sending.smtp.received == [] and sending.rep.ids("sent") == [outgoing.message.message_id]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("subject", "Hi\r\nBcc: everyone@evil.test", "Subject"),
        ("subject", "Hi\nX-Injected: 1", "Subject"),
        ("to", "ann@client.test\r\nBcc: everyone@evil.test", "line breaks"),
        ("cc", "ann@client.test\nSubject: spoofed", "line breaks"),
        ("to", "not an address", "is not an e-mail address"),
        ("to", "ann@client.test, bob@", "is not an e-mail address"),
        ("bcc", "<script>@x", "is not an e-mail address"),
    ],
)
def test_hostile_or_invalid_input_is_refused_with_a_clear_error_and_nothing_is_queued(
    sending: Sending, field: str, value: str, error: str
):
    conversation = _incoming(sending)
    with pytest.raises(InvalidRequest, match=error):
        _reply(sending, conversation, **{field: value})
    assert not OutgoingMessage.objects.exists() and not ProviderChange.objects.exists()
    assert conversation.messages.count() == 1


def test_a_thousand_recipients_are_refused_before_anything_is_queued(sending: Sending):
    conversation = _incoming(sending)
    many = ", ".join(f"lead{n}@client.test" for n in range(999))
    with pytest.raises(InvalidRequest, match="1,000 recipients is too many for one message: at most 500"):
        _reply(sending, conversation, bcc=many)
    assert not OutgoingMessage.objects.exists() and sending.smtp.received == []


def test_bcc_is_in_the_envelope_and_not_in_the_headers(sending: Sending, dovecot):
    conversation = _incoming(sending)
    hidden = dovecot.add_user("hidden")
    outgoing = _reply(sending, conversation, bcc=hidden.login)
    push_account(sending.rep.account.pk)
    mid = OutgoingMessage.objects.get(pk=outgoing.pk).message.message_id
    with hidden.client() as client:
        client.select_folder("INBOX", readonly=True)
        (uid,) = client.search(["HEADER", "Message-ID", mid])
        raw = client.fetch([uid], ["RFC822"])[uid][b"RFC822"]
    assert b"Bcc" not in raw and hidden.login.encode() not in raw
