"""Linking asks before it replaces a conversation's deal or lead; the picker puts lost deals last."""

from __future__ import annotations

import pytest

from crm.models import DealStatus
from crm.selectors import linkable_records
from inbox import services
from inbox.models import Conversation
from tests.factories import DealFactory, LeadFactory, receive
from tests.ui.conftest import HTMX

pytestmark = pytest.mark.django_db


def test_linking_a_lead_to_a_conversation_with_a_deal_asks_first(as_alice, alice, alice_mailbox, acme):
    deal = DealFactory(company=acme, title="Northwind licence")
    lead = LeadFactory(company=acme, title="Inbound: Anna")
    convo = receive(alice_mailbox, subject="Pricing").conversation_id
    services.link_deal(alice, convo, deal.pk)
    url = f"/inbox/c/{convo}/link/"

    response = as_alice.post(url, {"target": "lead", "object_id": lead.pk}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and response["HX-Retarget"] == "#dialog-slot"
    assert "Link to the lead Inbound: Anna instead?" in html and "Northwind licence" in html
    assert Conversation.objects.get(pk=convo).deal_id == deal.pk  # nothing changed yet

    page = as_alice.post(url, {"target": "lead", "object_id": lead.pk}).content.decode()  # no JavaScript
    assert "Keep the deal" in page and Conversation.objects.get(pk=convo).deal_id == deal.pk

    as_alice.post(url, {"target": "lead", "object_id": lead.pk, "replace": "1"}, **HTMX)
    linked = Conversation.objects.get(pk=convo)
    assert (linked.deal_id, linked.lead_id) == (None, lead.pk)


def test_linking_the_first_deal_or_the_same_one_again_does_not_ask(as_alice, alice, alice_mailbox, acme):
    deal = DealFactory(company=acme, title="First")
    convo = receive(alice_mailbox, subject="Pricing").conversation_id
    url = f"/inbox/c/{convo}/link/"
    response = as_alice.post(url, {"target": "deal", "object_id": deal.pk}, **HTMX)
    assert "HX-Retarget" not in response and Conversation.objects.get(pk=convo).deal_id == deal.pk
    response = as_alice.post(url, {"target": "deal", "object_id": deal.pk}, **HTMX)
    assert "HX-Retarget" not in response


def test_the_picker_lists_open_deals_then_won_then_lost(alice, acme):
    lost = DealFactory(company=acme, title="Renewal A", status=DealStatus.LOST)
    won = DealFactory(company=acme, title="Renewal B", status=DealStatus.WON)
    open_deal = DealFactory(company=acme, title="Renewal C", status=DealStatus.OPEN)
    newest_lost = DealFactory(company=acme, title="Renewal D", status=DealStatus.LOST)
    deals = linkable_records(alice, "renewal").deals
    assert [d.pk for d in deals] == [open_deal.pk, won.pk, newest_lost.pk, lost.pk]
