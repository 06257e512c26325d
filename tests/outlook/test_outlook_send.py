"""Sending through Outlook (Graph ``sendMail`` with the MIME) against the fake, which checks
the request as Graph documents it (base64 MIME as text/plain, Mail.Send granted, From is the
mailbox) and keeps state: the message lands in the sender's Sent Items and the customer's
Inbox. The outgoing message is marked sent only once its Message-ID is found in Sent Items;
a lost answer is looked for there before anything is sent again; a refusal shows "Not sent"
with the reason and Edit gives the text back."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Deal
from inbox.models import (
    ChangeStatus,
    Conversation,
    Message,
    OutgoingMessage,
    ProviderChange,
    SendStage,
    SendState,
)
from inbox.services.compose import ComposeInput, edit_unsent, send_message, set_compose_settings
from sync.providers.outlook import auth as graph_auth
from sync.pull import pull_account
from sync.push import push_account
from tests.fakes.graph_server import FakeMailbox, FakeMicrosoft, make_mime
from tests.outlook.conftest import outlook_personal, outlook_team
from tests.ports import free_port

pytestmark = pytest.mark.django_db

CUSTOMER = "dana@client.test"


def _ask(account, mailbox: FakeMailbox) -> Conversation:  # type: ignore[no-untyped-def]
    mailbox.deliver(make_mime(subject="Pricing question", sender=f"Dana <{CUSTOMER}>", to=[account.address]))
    pull_account(account.pk)
    return Conversation.objects.get(account=account)


@pytest.fixture
def question(ms: FakeMicrosoft, alice) -> tuple[Conversation, FakeMailbox]:
    set_compose_settings(alice, signature_html="", undo_seconds=0)
    ms.add_mailbox(CUSTOMER)
    account, mailbox = outlook_personal(ms, alice)
    return _ask(account, mailbox), mailbox


def _reply(conversation: Conversation, user, **extra: object) -> OutgoingMessage:  # type: ignore[no-untyped-def]
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
    return send_message(user, ComposeInput(**data))


def _parsed(mailbox: FakeMailbox, folder: str) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(mailbox.messages[key].mime, policy=email.policy.default)
        for key in sorted(mailbox.ids_in(folder))
    ]


def _due_now(outgoing: OutgoingMessage) -> None:
    ProviderChange.objects.filter(pk=outgoing.change_id).update(next_attempt_at=timezone.now())


def test_outlook_round_trip_reply_lands_once_in_sent_items_threaded_and_the_answer_keeps_the_deal(
    ms: FakeMicrosoft, alice, question: tuple[Conversation, FakeMailbox]
):
    conversation, mailbox = question
    account = conversation.account
    deal = Deal.objects.create(company=alice.company, title="Dana's deal")
    Conversation.objects.filter(pk=conversation.pk).update(deal=deal)
    asked = conversation.messages.get()
    outgoing = _reply(conversation, alice, bcc="boss@client.test")

    push_account(account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and outgoing.stage == SendStage.FILED
    mid = outgoing.message.message_id
    (sent,) = _parsed(mailbox, "sentitems")
    assert sent["Message-ID"] == mid and outgoing.result == {
        "sent_items_id": next(iter(mailbox.ids_in("sentitems")))
    }
    (received,) = _parsed(ms.mailboxes[CUSTOMER], "inbox")
    assert received["Message-ID"] == mid and received["In-Reply-To"] == asked.message_id
    assert asked.message_id in received["References"]
    assert received["From"].addresses[0].addr_spec == account.address
    assert received["Bcc"] is None  # read by Graph from the MIME, not delivered
    (log,) = mailbox.sent_log
    assert "boss@client.test" in log["recipients"]

    pull_account(account.pk)  # the Sent Items copy comes back: the same message
    assert Message.objects.filter(account=account, message_id=mid).count() == 1

    mailbox.deliver(
        make_mime(
            subject="Re: Pricing question", sender=CUSTOMER, to=[account.address], in_reply_to=mid,
            references=[asked.message_id, mid], date=datetime.now().astimezone(),
        )
    )  # fmt: skip
    pull_account(account.pk)
    conversation.refresh_from_db()
    assert conversation.message_count == 3 and conversation.deal_id == deal.pk
    assert Conversation.objects.filter(account=account).count() == 1


def test_a_lost_sendmail_answer_is_found_in_sent_items_and_the_message_is_not_sent_twice(
    ms: FakeMicrosoft, alice, question: tuple[Conversation, FakeMailbox]
):
    conversation, mailbox = question
    ms.lose_send_response()
    outgoing = _reply(conversation, alice)

    push_account(conversation.account_id)  # Graph sent it; its answer never came

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENDING and outgoing.stage == SendStage.DATA_SENT
    assert ProviderChange.objects.get(pk=outgoing.change_id).status == ChangeStatus.PENDING
    _due_now(outgoing)

    push_account(conversation.account_id)  # the retry looks in Sent Items first

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and outgoing.stage == SendStage.FILED
    assert len(mailbox.sent_log) == 1 and ms.count("send") == 1
    assert len(_parsed(ms.mailboxes[CUSTOMER], "inbox")) == 1
    assert len(_parsed(mailbox, "sentitems")) == 1


def test_an_unanswered_send_not_found_in_sent_items_stops_and_waits_for_the_user(
    ms: FakeMicrosoft, alice, question: tuple[Conversation, FakeMailbox]
):
    conversation, mailbox = question
    outgoing = _reply(conversation, alice)
    # An earlier worker handed it to Graph and died; Outlook has no trace of it.
    OutgoingMessage.objects.filter(pk=outgoing.pk).update(state=SendState.SENDING, stage=SendStage.DATA_SENT)
    ProviderChange.objects.filter(pk=outgoing.change_id).update(attempts=2)

    push_account(conversation.account_id)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.FAILED and "may still arrive" in outgoing.error
    assert mailbox.sent_log == [] and ms.count("send") == 0


def test_an_accepted_send_is_marked_sent_only_once_it_shows_in_sent_items(
    ms: FakeMicrosoft, alice, question: tuple[Conversation, FakeMailbox]
):
    conversation, mailbox = question
    ms.file_sent_after = 4  # Exchange files it later than the worker's first looks
    outgoing = _reply(conversation, alice)

    push_account(conversation.account_id)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENDING and outgoing.stage == SendStage.ACCEPTED
    assert "Sent Items" in outgoing.error and mailbox.ids_in("sentitems") == set()
    _due_now(outgoing)

    push_account(conversation.account_id)  # only looks again: never a second sendMail

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and outgoing.stage == SendStage.FILED
    assert ms.count("send") == 1 and len(_parsed(mailbox, "sentitems")) == 1


def test_outlook_refusing_a_send_shows_not_sent_with_the_reason_and_edit_keeps_the_text(
    client: Client, ms: FakeMicrosoft, alice, question: tuple[Conversation, FakeMailbox]
):
    conversation, mailbox = question
    ms.fail("send", status=400, code="ErrorInvalidRecipients", retry_after=None)
    outgoing = _reply(conversation, alice, cc="carol@client.test")

    push_account(conversation.account_id)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.FAILED and outgoing.stage == SendStage.NONE
    assert "Outlook refused to send it" in outgoing.error and "ErrorInvalidRecipients" in outgoing.error
    assert mailbox.sent_log == [] and _parsed(ms.mailboxes[CUSTOMER], "inbox") == []
    client.force_login(alice)
    page = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert "Not sent" in page and "Outlook refused to send it" in page

    draft = edit_unsent(alice, outgoing.pk)

    assert draft.html == "<p>Ten <b>euros</b>.</p>" and draft.subject == "Re: Pricing question"
    assert draft.to == [CUSTOMER] and draft.cc == ["carol@client.test"]
    assert draft.conversation_id == conversation.pk and draft.mode == "reply"


def test_a_mailbox_connected_without_the_send_permission_is_told_to_reconnect(
    ms: FakeMicrosoft, alice, monkeypatch
):
    set_compose_settings(alice, signature_html="", undo_seconds=0)
    ms.add_mailbox(CUSTOMER)
    # Connected before the app asked for Mail.Send.
    monkeypatch.setattr(graph_auth, "GRAPH_SCOPES", ["https://graph.microsoft.com/Mail.ReadWrite"])
    account, mailbox = outlook_personal(ms, alice)
    monkeypatch.undo()
    conversation = _ask(account, mailbox)
    outgoing = _reply(conversation, alice)

    push_account(account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.FAILED and "Reconnect the mailbox" in outgoing.error
    assert mailbox.sent_log == [] and outgoing.stage == SendStage.NONE


def test_a_shared_team_mailbox_sends_as_the_team_address_into_its_own_sent_items(
    ms: FakeMicrosoft, alice, bob
):
    set_compose_settings(bob, signature_html="", undo_seconds=0)
    ms.add_mailbox(CUSTOMER)
    account, team = outlook_team(ms, alice.company, [alice, bob], shared_by=alice)
    conversation = _ask(account, team)

    outgoing = _reply(conversation, bob)
    push_account(account.pk)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT
    (sent,) = _parsed(team, "sentitems")
    assert sent["From"].addresses[0].addr_spec == "sales@acme.test"
    assert ms.calls_of("send")[0].path == "/v1.0/users/sales%40acme.test/sendMail"
    assert ms.mailboxes[alice.email].sent_log == []


def test_graph_unreachable_before_the_send_leaves_nothing_to_wonder_about(
    ms: FakeMicrosoft, alice, question: tuple[Conversation, FakeMailbox], settings
):
    conversation, mailbox = question
    outgoing = _reply(conversation, alice)
    graph = settings.GRAPH_API_ENDPOINT
    settings.GRAPH_API_ENDPOINT = f"https://127.0.0.1:{free_port()}/v1.0"  # nothing listens there

    push_account(conversation.account_id)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENDING and outgoing.stage == SendStage.NONE  # never handed over
    settings.GRAPH_API_ENDPOINT = graph
    _due_now(outgoing)

    push_account(conversation.account_id)

    outgoing.refresh_from_db()
    assert outgoing.state == SendState.SENT and len(mailbox.sent_log) == 1
