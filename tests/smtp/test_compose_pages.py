"""The compose pages without a browser: reply pre-fills, Send queues, errors show on the
form, Undo returns the editor, drafts are listed and resumed; alice/bob/carol permissions."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from inbox.models import Conversation, Draft, OutgoingMessage, SendState
from inbox.services.compose import set_compose_settings
from tests.smtp.conftest import Sending

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


@pytest.fixture
def conversation(sending: Sending) -> Conversation:
    sending.rep.deliver(subject="Pricing question", sender=f"Customer <{sending.customer.login}>")
    sending.rep.pull()
    return Conversation.objects.get(account=sending.rep.account)


def test_reply_page_prefills_recipient_subject_and_collapsed_quote(client: Client, alice, conversation):
    client.force_login(alice)
    page = client.get(reverse("inbox:reply", args=[conversation.pk])).content.decode()
    question = conversation.messages.get()
    assert f'value="{question.from_address}"' in page
    assert 'value="Re: Pricing question"' in page
    assert '<details class="quoted">' in page and "wrote:" in page


def test_send_from_the_page_shows_the_message_at_once_as_sending_with_undo(
    client: Client, alice, conversation
):
    set_compose_settings(alice, signature_html="", undo_seconds=10)
    client.force_login(alice)
    question = conversation.messages.get()
    response = client.post(
        reverse("inbox:compose_send"),
        {
            "mode": "reply", "conversation_id": conversation.pk, "reply_to_id": question.pk,
            "account_id": conversation.account_id, "to": question.from_address,
            "subject": "Re: Pricing question", "html": "<p>Ten euros</p>", "quote": "1", "action": "send",
        },
    )  # fmt: skip
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Sending…" in page and "data-undo-send" in page and "Ten euros" in page
    outgoing = OutgoingMessage.objects.get()
    assert b"wrote:" in bytes(outgoing.raw)  # the quote went along

    undone = client.post(reverse("inbox:send_undo", args=[outgoing.pk]))
    draft = Draft.objects.get()
    assert undone["Location"] == reverse("inbox:draft", args=[draft.pk])
    assert "Ten euros" in client.get(undone["Location"]).content.decode()


def test_an_invalid_address_is_shown_on_the_form_and_nothing_is_queued(client: Client, alice, conversation):
    client.force_login(alice)
    response = client.post(
        reverse("inbox:compose_send"),
        {"mode": "new", "account_id": conversation.account_id, "to": "not-an-address",
         "subject": "Hi", "html": "<p>x</p>", "action": "send"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "is not an e-mail address" in response.content.decode()
    assert not OutgoingMessage.objects.exists()


def test_a_failed_send_shows_not_sent_with_the_reason_retry_and_edit(
    client: Client, alice, conversation, sending
):
    from inbox.services.compose import ComposeInput, send_message
    from sync.push import push_account

    set_compose_settings(alice, signature_html="", undo_seconds=0)
    sending.smtp.refuse_rcpt.add("ghost@imap.test")
    outgoing = send_message(
        alice, ComposeInput(account_id=conversation.account_id, to="ghost@imap.test", subject="Hi", html="x")
    )
    push_account(conversation.account_id)
    assert OutgoingMessage.objects.get(pk=outgoing.pk).state == SendState.FAILED
    client.force_login(alice)
    page = client.get(reverse("inbox:conversation", args=[outgoing.message.conversation_id])).content.decode()
    assert "Not sent" in page and "refused 1 recipient" in page
    assert reverse("inbox:send_retry", args=[outgoing.pk]) in page
    edit = client.post(reverse("inbox:send_edit", args=[outgoing.pk]))
    assert edit["Location"].startswith("/inbox/drafts/") and not OutgoingMessage.objects.exists()


def test_drafts_are_private_to_their_author(client: Client, alice, bob, carol, conversation):
    client.force_login(alice)
    client.post(
        reverse("inbox:compose_autosave"),
        {
            "mode": "new",
            "account_id": conversation.account_id,
            "to": "x@client.test",
            "subject": "Secret plan",
        },
    )
    draft = Draft.objects.get()
    assert "Secret plan" in client.get(reverse("inbox:drafts")).content.decode()
    for other in (bob, carol):
        client.force_login(other)
        assert client.get(reverse("inbox:draft", args=[draft.pk])).status_code == 404
        assert "Secret plan" not in client.get(reverse("inbox:drafts")).content.decode()


def test_nobody_replies_from_a_mailbox_they_cannot_see(client: Client, bob, carol, conversation):
    for other in (bob, carol):  # alice's personal mailbox
        client.force_login(other)
        assert client.get(reverse("inbox:reply", args=[conversation.pk])).status_code == 404
        response = client.post(
            reverse("inbox:compose_send"),
            {"mode": "new", "account_id": conversation.account_id, "to": "a@client.test", "html": "x"},
        )
        assert response.status_code == 404
    assert not OutgoingMessage.objects.exists()


def test_suggestions_come_from_people_and_organizations(client: Client, alice):
    from crm.models import Organization, Person, PersonEmail

    org = Organization.objects.create(company=alice.company, name="Globex Industries")
    person = Person.objects.create(company=alice.company, name="Hank Scorpio", organization=org)
    PersonEmail.objects.create(company=alice.company, person=person, email="hank@globex.test", primary=True)
    client.force_login(alice)
    by_org = client.get(reverse("inbox:compose_suggest"), {"q": "globex ind"}).content.decode()
    by_name = client.get(reverse("inbox:compose_suggest"), {"q": "ann@x.test, scorp"}).content.decode()
    assert "Hank Scorpio &lt;hank@globex.test&gt;" in by_org and "hank@globex.test" in by_name


def test_compose_settings_keep_the_delay_between_0_and_30_seconds(client: Client, alice):
    client.force_login(alice)
    bad = client.post(reverse("inbox:compose_settings"), {"undo_seconds": "31", "signature_html": ""})
    assert bad.status_code == 400 and "0 to 30" in bad.content.decode()
    good = client.post(
        reverse("inbox:compose_settings"),
        {"undo_seconds": "5", "signature_html": "<b>Alice</b><script>x</script>"},
    )
    assert good.status_code == 302
    alice.compose_settings.refresh_from_db()
    assert (
        alice.compose_settings.undo_seconds == 5 and alice.compose_settings.signature_html == "<b>Alice</b>"
    )


def test_write_email_from_a_deal_prefills_its_contact_and_links_the_new_conversation(
    client: Client, alice, carol, sending
):
    from crm.models import Deal, Person, PersonEmail

    person = Person.objects.create(company=alice.company, name="Dana Berg")
    PersonEmail.objects.create(company=alice.company, person=person, email="dana@client.test", primary=True)
    deal = Deal.objects.create(company=alice.company, title="Renewal", person=person)
    client.force_login(alice)
    assert (
        reverse("inbox:compose") + f"?deal={deal.pk}" in client.get(deal.get_absolute_url()).content.decode()
    )

    page = client.get(reverse("inbox:compose"), {"deal": deal.pk}).content.decode()
    assert 'value="Dana Berg &lt;dana@client.test&gt;"' in page and "Linked to Deal: Renewal" in page
    response = client.post(
        reverse("inbox:compose_send"),
        {"mode": "new", "account_id": sending.rep.account.pk, "to": "Dana Berg <dana@client.test>",
         "subject": "Renewal", "html": "<p>Hi Dana</p>", "link_kind": "deal", "link_id": deal.pk,
         "action": "send"},
    )  # fmt: skip
    assert response.status_code == 302
    assert OutgoingMessage.objects.get().message.conversation.deal_id == deal.pk

    client.force_login(carol)  # another company's deal: no such record
    assert client.get(reverse("inbox:compose"), {"deal": deal.pk}).status_code == 404


def test_undo_of_a_mail_written_from_a_deal_keeps_the_deal_link_for_the_next_send(
    client: Client, alice, sending
):
    from crm.models import Deal

    set_compose_settings(alice, signature_html="", undo_seconds=10)
    deal = Deal.objects.create(company=alice.company, title="Renewal")
    client.force_login(alice)
    fields = {"mode": "new", "account_id": sending.rep.account.pk, "to": "dana@client.test",
              "subject": "Renewal", "html": "<p>Hi Dana</p>", "action": "send"}  # fmt: skip
    client.post(reverse("inbox:compose_send"), {**fields, "link_kind": "deal", "link_id": deal.pk})
    outgoing = OutgoingMessage.objects.get()
    conversation_page = reverse("inbox:conversation", args=[outgoing.message.conversation_id])
    assert "data-undo-send" in client.get(conversation_page).content.decode()

    undone = client.post(reverse("inbox:send_undo", args=[outgoing.pk]))  # the conversation goes

    assert not Conversation.objects.exists()
    draft = Draft.objects.get()
    assert (draft.link_kind, draft.link_id) == ("deal", deal.pk)
    page = client.get(undone["Location"]).content.decode()
    assert "Linked to Deal: Renewal" in page
    assert f'name="link_kind" value="deal"><input type="hidden" name="link_id" value="{deal.pk}"' in page
    client.post(
        reverse("inbox:compose_send"),
        {**fields, "draft_id": draft.pk, "link_kind": "deal", "link_id": deal.pk},
    )
    assert OutgoingMessage.objects.get().message.conversation.deal_id == deal.pk
    assert not Draft.objects.exists()


def test_undo_keeps_a_deal_linked_on_the_conversation_page_during_the_delay(client: Client, alice, sending):
    from crm.models import Deal
    from inbox.services.compose import ComposeInput, send_message, undo_send
    from inbox.services.links import link_deal

    set_compose_settings(alice, signature_html="", undo_seconds=10)
    deal = Deal.objects.create(company=alice.company, title="Renewal")
    outgoing = send_message(
        alice, ComposeInput(account_id=sending.rep.account.pk, to="dana@client.test", subject="Hi", html="x")
    )
    link_deal(alice, outgoing.message.conversation_id, deal.pk)  # linked from the conversation page

    draft = undo_send(alice, outgoing.pk)

    assert (draft.link_kind, draft.link_id) == ("deal", deal.pk)


def test_an_autosaved_draft_from_a_deal_keeps_its_link(client: Client, alice, carol, sending):
    from crm.models import Deal

    deal = Deal.objects.create(company=alice.company, title="Renewal")
    client.force_login(alice)
    saved = client.post(
        reverse("inbox:compose_autosave"),
        {"mode": "new", "account_id": sending.rep.account.pk, "to": "dana@client.test", "subject": "Renewal",
         "html": "<p>Hi</p>", "link_kind": "deal", "link_id": deal.pk},
    ).json()  # fmt: skip
    page = client.get(reverse("inbox:draft", args=[saved["draft_id"]])).content.decode()
    assert "Linked to Deal: Renewal" in page
