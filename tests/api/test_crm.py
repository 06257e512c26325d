"""/deals, /persons, /organizations, /leads: company-scoped reads, creation, linked mail."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.models import Deal, Person, PersonEmail
from inbox import services
from inbox.models import Participant
from tests.api.conftest import assert_error
from tests.factories import (
    DealFactory,
    LeadFactory,
    OrganizationFactory,
    PersonFactory,
    add_person,
    parsed,
    receive,
)

pytestmark = pytest.mark.django_db


def test_deals_list_is_company_scoped_in_pipedrive_shape(alice, alice_api, acme, carol):
    org = OrganizationFactory(company=acme, name="Initech")
    person = add_person(acme, "Peter Gibbons", "peter@initech.test", organization=org)
    deal = DealFactory(
        company=acme, owner=alice, title="TPS", value=Decimal("1500.50"), person=person, organization=org
    )
    DealFactory(company=carol.company, title="Globex secret")

    reply = alice_api.get("/deals")

    assert reply.status == 200 and [d["title"] for d in reply.data] == ["TPS"]
    data = reply.data[0]
    assert data["id"] == deal.pk and data["value"] == 1500.5 and data["currency"] == "EUR"
    assert data["status"] == "open" and data["active"] is True and data["deleted"] is False
    assert data["user_id"]["id"] == alice.pk and data["user_id"]["email"] == alice.email
    assert data["person_id"]["value"] == person.pk and data["person_name"] == "Peter Gibbons"
    assert data["person_id"]["email"] == [{"label": "work", "value": "peter@initech.test", "primary": True}]
    assert data["org_id"]["value"] == org.pk and data["org_name"] == "Initech"
    assert reply.pagination == {"start": 0, "limit": 100, "more_items_in_collection": False}


def test_deals_filter_by_status_and_reject_unknown_status(alice_api, acme):
    DealFactory(company=acme, title="Won one", status="won")
    DealFactory(company=acme, title="Open one")
    assert [d["title"] for d in alice_api.get("/deals", status="won").data] == ["Won one"]
    assert alice_api.get("/deals", status="deleted").data == []
    assert_error(alice_api.get("/deals", status="archived"), 400)


@pytest.mark.parametrize("kind", ["deals", "persons", "organizations", "leads"])
def test_carol_gets_404_for_acme_records_and_bad_ids_are_400(carol_api, alice_api, acme, kind):
    factory = {
        "deals": DealFactory,
        "persons": PersonFactory,
        "organizations": OrganizationFactory,
        "leads": LeadFactory,
    }[kind]
    record = factory(company=acme)
    assert alice_api.get(f"/{kind}/{record.pk}").status == 200
    assert_error(carol_api.get(f"/{kind}/{record.pk}"), 404)
    assert carol_api.get(f"/{kind}").data == []
    assert_error(alice_api.get(f"/{kind}/x1"), 400)


def test_persons_and_organizations_in_pipedrive_shape(alice, alice_api, acme):
    org = OrganizationFactory(company=acme, name="Initech", address="1 Main St", owner=alice)
    person = add_person(acme, "Peter Gibbons", "peter@initech.test", "pg@home.test", organization=org)
    PersonEmail.objects.filter(email="pg@home.test").update(primary=True)

    got = alice_api.get(f"/persons/{person.pk}").data
    assert (got["first_name"], got["last_name"]) == ("Peter", "Gibbons")
    assert got["primary_email"] == "pg@home.test"
    assert [e["value"] for e in got["email"]] == ["pg@home.test", "peter@initech.test"]
    assert got["org_id"]["value"] == org.pk and got["org_name"] == "Initech"

    orgs = alice_api.get("/organizations").data
    assert orgs[0]["id"] == org.pk and orgs[0]["people_count"] == 1 and orgs[0]["address"] == "1 Main St"
    assert orgs[0]["owner_id"]["id"] == alice.pk


def test_leads_have_string_ids_and_filter_by_archived_status(alice_api, acme):
    live = LeadFactory(company=acme, title="Live", value=Decimal("10"))
    LeadFactory(company=acme, title="Old", is_archived=True)
    everything = alice_api.get("/leads").data
    assert [ld["title"] for ld in everything] == ["Live", "Old"]
    assert everything[0]["id"] == str(live.pk)
    assert everything[0]["value"] == {"amount": 10.0, "currency": "EUR"} and everything[1]["value"] is None
    assert [ld["title"] for ld in alice_api.get("/leads", archived_status="archived").data] == ["Old"]
    assert [ld["title"] for ld in alice_api.get("/leads", archived_status="not_archived").data] == ["Live"]


# --- creating --------------------------------------------------------------------------


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_post_deal_creates_it_in_the_company_with_201(alice, bob, alice_api, acme, form):
    person = PersonFactory(company=acme)
    body = {
        "title": "  New deal ",
        "value": "99.5",
        "currency": "usd",
        "person_id": person.pk,
        "user_id": bob.pk,
    }
    reply = alice_api.post("/deals", body, form=form)
    assert reply.status == 201, reply.body
    deal = Deal.objects.get(pk=reply.data["id"])
    assert (deal.company_id, deal.title, deal.value, deal.currency) == (
        acme.pk,
        "New deal",
        Decimal("99.50"),
        "USD",
    )
    assert deal.person_id == person.pk and deal.owner_id == bob.pk
    assert reply.data["user_id"]["id"] == bob.pk


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": "   "},
        {"title": "x" * 256},
        {"title": "NUL \x00 inside"},
        {"title": "Ok", "value": "lots"},
        {"title": "Ok", "value": 1e15},
        {"title": "Ok", "currency": "euro"},
        {"title": "Ok", "status": "pending"},
        {"title": "Ok", "person_id": "me"},
    ],
)
def test_post_deal_bad_input_is_400_and_creates_nothing(alice_api, body):
    assert_error(alice_api.post("/deals", body), 400)
    assert not Deal.objects.exists()


def test_post_deal_with_another_companys_person_or_user_is_404(alice_api, carol):
    carols_person = PersonFactory(company=carol.company)
    assert_error(alice_api.post("/deals", {"title": "x", "person_id": carols_person.pk}), 404)
    assert_error(alice_api.post("/deals", {"title": "x", "user_id": carol.pk}), 404)
    assert not Deal.objects.exists()


def test_post_person_links_existing_mail_to_the_new_person(alice_api, alice_mailbox, acme):
    convo = receive(alice_mailbox, parsed(sender="newbie@client.test", to=(alice_mailbox.address,)))
    body = {
        "name": "New Bie",
        "email": [{"value": "Newbie@client.test", "primary": True}, "other@client.test"],
        "phone": "+46 70 123",
    }
    reply = alice_api.post("/persons", body)
    assert reply.status == 201, reply.body
    person = Person.objects.get(pk=reply.data["id"])
    assert person.company_id == acme.pk and person.phone == "+46 70 123"
    assert reply.data["primary_email"] == "newbie@client.test"
    assert (
        Participant.objects.get(conversation_id=convo.conversation_id, address="newbie@client.test").person
        == person
    )
    # ... so the mail shows under the person at once.
    mail = alice_api.get(f"/persons/{person.pk}/mailMessages").data
    assert [m["data"]["mail_thread_id"] for m in mail] == [convo.conversation_id]


def test_post_person_with_a_taken_address_is_409_and_creates_nothing(alice_api, acme):
    add_person(acme, "Existing", "taken@client.test")
    assert_error(alice_api.post("/persons", {"name": "Copy", "email": "TAKEN@client.test"}), 409)
    assert Person.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@b.test"},
        {"name": "X", "email": "not-an-address"},
        {"name": "X", "email": [{"primary": True}]},
        {"name": "X", "email": [{"value": "a@b.test", "primary": "yes"}]},
        {"name": "X", "phone": "1" * 51},
        {"name": "X", "org_id": -1},
    ],
)
def test_post_person_bad_input_is_400_and_creates_nothing(alice_api, body):
    assert_error(alice_api.post("/persons", body), 400)
    assert not Person.objects.exists()


# --- linked mail -----------------------------------------------------------------------


def test_deal_mail_messages_include_archived_mail_in_pipedrive_flow_items(
    alice, alice_api, alice_mailbox, acme
):
    deal = DealFactory(company=acme)
    kept = receive(alice_mailbox, subject="Kept")
    archived = receive(alice_mailbox, subject="Archived")
    for result in (kept, archived):
        services.link_deal(alice, result.conversation_id, deal.pk)
    services.archive_conversations(alice, [archived.conversation_id])
    receive(alice_mailbox, subject="Unlinked")

    reply = alice_api.get(f"/deals/{deal.pk}/mailMessages")

    assert {item["data"]["id"] for item in reply.data} == {kept.message_id, archived.message_id}
    assert all(item["object"] == "mailMessage" and item["timestamp"] for item in reply.data)
    # Where Pipedrive's clients read it for this endpoint: straight in additional_data.
    assert reply.flat_pagination == {"start": 0, "limit": 100, "more_items_in_collection": False}


def test_record_mail_shows_only_mail_the_caller_may_see(
    alice, bob, alice_api, bob_api, alice_mailbox, bob_mailbox, acme
):
    deal = DealFactory(company=acme)
    a = receive(alice_mailbox, subject="Alice's")
    b = receive(bob_mailbox, subject="Bob's")
    services.link_deal(alice, a.conversation_id, deal.pk)
    services.link_deal(bob, b.conversation_id, deal.pk)
    assert [i["data"]["id"] for i in alice_api.get(f"/deals/{deal.pk}/mailMessages").data] == [a.message_id]
    assert [i["data"]["id"] for i in bob_api.get(f"/deals/{deal.pk}/mailMessages").data] == [b.message_id]


def test_carol_gets_404_for_acme_record_mail(carol_api, acme):
    assert_error(carol_api.get(f"/deals/{DealFactory(company=acme).pk}/mailMessages"), 404)
    assert_error(carol_api.get(f"/persons/{PersonFactory(company=acme).pk}/mailMessages"), 404)
