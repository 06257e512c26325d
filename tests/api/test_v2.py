"""/api/v2/ deals, persons, organizations: Pipedrive's v2 shapes, cursor pages, filters and
writes — company-scoped, and deleting a record never deletes mail."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from api.tokens import issue_token
from crm.models import Deal, Organization, Person, PersonEmail
from inbox import services
from inbox.models import Conversation, Message, Participant
from tests.api.conftest import Api, assert_error
from tests.factories import DealFactory, LeadFactory, OrganizationFactory, add_person, parsed, receive

pytestmark = pytest.mark.django_db


def v2(user) -> Api:  # type: ignore[no-untyped-def]
    return Api(Client(), issue_token(user), header=True, base="/api/v2")


@pytest.fixture
def alice_v2(alice) -> Api:  # type: ignore[no-untyped-def]
    return v2(alice)


def _all_pages(api: Api, path: str, **params: object) -> tuple[list[int], int]:
    """Follow next_cursor to the end: (ids in order, number of pages)."""
    ids: list[int] = []
    cursor, pages = None, 0
    while True:
        reply = api.get(path, **params, **({"cursor": cursor} if cursor else {}))
        assert reply.status == 200, reply.body
        ids += [row["id"] for row in reply.data]
        pages += 1
        cursor = reply.body["additional_data"]["next_cursor"]
        if cursor is None:
            return ids, pages
        assert len(reply.data) == params.get("limit", 100)


# --- shapes ----------------------------------------------------------------------------


def test_deal_has_pipedrives_v2_shape(alice, alice_v2, acme):
    org = OrganizationFactory(company=acme, name="Initech")
    person = add_person(acme, "Peter", "peter@initech.test", organization=org)
    deal = DealFactory(company=acme, owner=alice, person=person, organization=org, value=Decimal("12.50"))
    data = alice_v2.get(f"/deals/{deal.pk}").data
    assert data["id"] == deal.pk and data["title"] == deal.title
    # Flat ids, not v1's nested objects; a number, not a string; RFC 3339 times.
    assert (data["owner_id"], data["person_id"], data["org_id"]) == (alice.pk, person.pk, org.pk)
    assert data["value"] == 12.5 and data["currency"] == "EUR" and data["status"] == "open"
    assert data["add_time"].endswith("Z") and "T" in data["add_time"]
    assert data["is_deleted"] is False and data["is_archived"] is False
    assert data["pipeline_id"] is None and data["label_ids"] == [] and data["custom_fields"] == {}


def test_person_and_organization_have_pipedrives_v2_shapes(alice, alice_v2, acme):
    org = OrganizationFactory(company=acme, name="Initech", address="1 Main St", owner=alice)
    person = add_person(acme, "Peter Gibbons", "peter@initech.test", organization=org)
    PersonEmail.objects.create(company=acme, person=person, email="pg@home.test")
    Person.objects.filter(pk=person.pk).update(phone="+1 555")
    p = alice_v2.get(f"/persons/{person.pk}").data
    assert (p["first_name"], p["last_name"], p["org_id"]) == ("Peter", "Gibbons", org.pk)
    assert p["emails"] == [
        {"label": "work", "value": "peter@initech.test", "primary": True},
        {"label": "work", "value": "pg@home.test", "primary": False},
    ]
    assert p["phones"] == [{"label": "work", "value": "+1 555", "primary": True}]
    o = alice_v2.get(f"/organizations/{org.pk}").data
    assert o["address"] == {"value": "1 Main St"} and o["owner_id"] == alice.pk and o["is_deleted"] is False


# --- lists: cursor pages, sort, filters ------------------------------------------------------


@pytest.mark.parametrize("path", ["/deals", "/persons", "/organizations"])
def test_cursor_pages_walk_every_row_once_and_end_with_null(alice_v2, acme, path):
    for i in range(5):
        person = add_person(
            acme, f"P{i}", f"p{i}@client.test", organization=OrganizationFactory(company=acme)
        )
        DealFactory(company=acme, person=person)
    expected = sorted(
        {"/deals": Deal, "/persons": Person, "/organizations": Organization}[path].objects.values_list(
            "pk", flat=True
        )
    )
    ids, pages = _all_pages(alice_v2, path, limit=2)
    assert ids == expected and pages == 3
    desc, _ = _all_pages(alice_v2, path, limit=2, sort_direction="desc")
    assert desc == expected[::-1]


def test_time_sorted_pages_split_ties_by_id_and_skip_nothing(alice_v2, acme):
    deals = [DealFactory(company=acme, title=f"D{i}") for i in range(5)]
    same = timezone.now() - timedelta(days=1)
    # Three deals share one update_time: the cursor must carry the id to split them.
    Deal.objects.filter(pk__in=[d.pk for d in deals[1:4]]).update(updated_at=same)
    Deal.objects.filter(pk=deals[0].pk).update(updated_at=same - timedelta(hours=1))
    Deal.objects.filter(pk=deals[4].pk).update(updated_at=same + timedelta(hours=1))
    ids, _ = _all_pages(alice_v2, "/deals", limit=2, sort_by="update_time")
    assert ids == [deals[0].pk, deals[1].pk, deals[2].pk, deals[3].pk, deals[4].pk]
    ids, _ = _all_pages(alice_v2, "/deals", limit=2, sort_by="update_time", sort_direction="desc")
    assert ids == [deals[4].pk, deals[3].pk, deals[2].pk, deals[1].pk, deals[0].pk]


def test_a_cursor_continues_its_own_sort_and_survives_inserts(alice_v2, acme):
    deals = [DealFactory(company=acme) for _ in range(4)]
    first = alice_v2.get("/deals", limit=2, sort_direction="desc")
    cursor = first.body["additional_data"]["next_cursor"]
    DealFactory(company=acme)  # a new deal does not shift the next page
    rest = alice_v2.get("/deals", limit=2, cursor=cursor)  # sort_by/direction from the cursor
    assert [d["id"] for d in rest.data] == [deals[1].pk, deals[0].pk]


def test_deal_filters_map_to_owner_person_org_status_ids_and_update_time(alice, bob, alice_v2, acme):
    org = OrganizationFactory(company=acme)
    person = add_person(acme, "Pat", "pat@client.test")
    a = DealFactory(company=acme, owner=alice, person=person, status="open")
    b = DealFactory(company=acme, owner=bob, organization=org, status="won")
    c = DealFactory(company=acme, owner=bob, status="lost")
    Deal.objects.filter(pk=a.pk).update(updated_at=timezone.now() - timedelta(days=10))

    def ids(**params: object) -> list[int]:
        reply = alice_v2.get("/deals", **params)
        assert reply.status == 200, reply.body
        return [d["id"] for d in reply.data]

    assert ids(owner_id=bob.pk) == [b.pk, c.pk]
    assert ids(person_id=person.pk) == [a.pk]
    assert ids(org_id=org.pk) == [b.pk]
    assert ids(status="won,lost") == [b.pk, c.pk]
    assert ids(status="deleted") == []
    assert ids(ids=f"{c.pk},{a.pk}") == [a.pk, c.pk]
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(updated_since=since) == [b.pk, c.pk]
    assert ids(updated_until=since) == [a.pk]


def test_person_filters_by_org_and_deal(alice_v2, acme):
    org = OrganizationFactory(company=acme)
    inside = add_person(acme, "In", "in@client.test", organization=org)
    outside = add_person(acme, "Out", "out@client.test")
    deal = DealFactory(company=acme, person=outside)
    assert [p["id"] for p in alice_v2.get("/persons", org_id=org.pk).data] == [inside.pk]
    assert [p["id"] for p in alice_v2.get("/persons", deal_id=deal.pk).data] == [outside.pk]


@pytest.mark.parametrize(
    "params",
    [
        {"filter_id": 1},  # no saved filters here: not silently the whole list
        {"pipeline_id": 1},
        {"cursor": "not-a-cursor"},
        {"updated_since": "yesterday"},
        {"updated_since": "2025-01-01T10:00:00"},  # no zone
        {"sort_by": "title"},
        {"limit": 501},
        {"ids": "1,x"},
        {"status": "open,closed"},
    ],
)
def test_bad_or_unsupported_list_parameters_are_400(alice_v2, params):
    assert_error(alice_v2.get("/deals", **params), 400)


def test_extra_field_parameters_are_accepted_and_change_nothing(alice_v2, acme):
    deal = DealFactory(company=acme)
    reply = alice_v2.get("/deals", include_fields="products_count", include_labels="true")
    assert [d["id"] for d in reply.data] == [deal.pk]


# --- writes ----------------------------------------------------------------------------


def test_create_and_patch_a_deal(alice, bob, alice_v2, acme):
    org = OrganizationFactory(company=acme)
    person = add_person(acme, "Pat", "pat@client.test")
    created = alice_v2.post(
        "/deals", {"title": "Big one", "value": 1200, "currency": "usd", "org_id": org.pk}
    )
    assert created.status == 201, created.body
    deal_id = created.data["id"]
    assert created.data["owner_id"] == alice.pk and created.data["currency"] == "USD"
    assert created.data["org_id"] == org.pk and created.data["value"] == 1200

    patched = alice_v2.patch(
        f"/deals/{deal_id}", {"status": "won", "person_id": person.pk, "org_id": None, "owner_id": bob.pk}
    )
    assert patched.status == 200, patched.body
    deal = Deal.objects.get(pk=deal_id)
    assert (deal.status, deal.person_id, deal.organization_id, deal.owner_id) == (
        "won",
        person.pk,
        None,
        bob.pk,
    )
    assert deal.title == "Big one" and deal.value == Decimal("1200.00")  # untouched fields stay
    assert patched.data["status"] == "won" and patched.data["org_id"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"title": "X", "pipeline_id": 1},  # a field we do not store: refused, not dropped
        {"title": "X", "custom_fields": {"abc": 1}},
        {"title": " "},
        {"value": 5},  # no title
        {"title": "X", "owner_id": None},
        {"title": "X", "status": "deleted"},
    ],
)
def test_bad_deal_bodies_are_400_and_create_nothing(alice_v2, body):
    assert_error(alice_v2.post("/deals", body), 400)
    assert not Deal.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X", "phones": ["+1 555"]},  # v2 takes {value, primary, label} objects only
        {"name": "X", "emails": "x@client.test"},
        {"name": "X", "owner_id": "1"},  # typed JSON: an id is a number
        {"name": 5},
    ],
)
def test_v2_bodies_are_typed_json(alice_v2, body):
    assert_error(alice_v2.post("/persons", body), 400)
    assert_error(alice_v2.post("/deals", {"title": "X", "value": "12"}), 400)
    assert not Person.objects.exists() and not Deal.objects.exists()


def test_any_rfc3339_zone_is_understood(alice_v2, acme):
    deal = DealFactory(company=acme)
    # +21:28 is valid RFC 3339 but beyond what PostgreSQL takes as an offset: compared in UTC.
    reply = alice_v2.get(
        "/deals", updated_since="2000-01-01T10:00:00+21:28", updated_until="2999-01-01T00:00:00-23:59"
    )
    assert reply.status == 200 and [d["id"] for d in reply.data] == [deal.pk]


def test_v2_takes_json_only(alice_v2):
    response = alice_v2.client.post(
        "/api/v2/deals",
        "title=X",
        content_type="application/x-www-form-urlencoded",
        headers=alice_v2._headers(),
    )
    assert response.status_code == 415 and response.json()["success"] is False


def test_another_companys_ids_in_a_body_are_404(alice_v2, carol):
    foreign = OrganizationFactory(company=carol.company)
    assert_error(alice_v2.post("/deals", {"title": "X", "org_id": foreign.pk}), 404)
    assert_error(alice_v2.post("/deals", {"title": "X", "owner_id": carol.pk}), 404)
    assert not Deal.objects.exists()


def test_create_person_links_existing_mail_and_patch_replaces_addresses(alice, alice_v2, alice_mailbox, acme):
    convo = receive(alice_mailbox, parsed(sender="dana@client.test", to=(alice_mailbox.address,)))
    created = alice_v2.post(
        "/persons",
        {
            "name": "Dana Scully",
            "emails": [{"value": "Dana@client.test", "primary": True, "label": "work"}],
            "phones": [{"value": "+1 555 0100", "primary": True}],
        },
    )
    assert created.status == 201, created.body
    person_id = created.data["id"]
    assert created.data["emails"] == [{"label": "work", "value": "dana@client.test", "primary": True}]
    assert created.data["phones"][0]["value"] == "+1 555 0100"
    sender = Participant.objects.get(conversation_id=convo.conversation_id, address="dana@client.test")
    assert sender.person_id == person_id  # her mail now shows in her History

    patched = alice_v2.patch(
        f"/persons/{person_id}", {"emails": [{"value": "dana@fbi.test", "primary": True}]}
    )
    assert patched.status == 200, patched.body
    assert [e["value"] for e in patched.data["emails"]] == ["dana@fbi.test"]
    sender.refresh_from_db()
    assert sender.person_id is None  # the removed address no longer links her
    assert patched.data["phones"][0]["value"] == "+1 555 0100"  # not sent: unchanged


def test_person_address_taken_is_409_and_two_phones_400(alice_v2, acme):
    add_person(acme, "Has it", "taken@client.test")
    assert_error(
        alice_v2.post("/persons", {"name": "Other", "emails": [{"value": "TAKEN@client.test"}]}), 409
    )
    two = [{"value": "1"}, {"value": "2"}]
    assert_error(alice_v2.post("/persons", {"name": "Other", "phones": two}), 400)
    assert list(Person.objects.values_list("name", flat=True)) == ["Has it"]


def test_create_and_patch_an_organization(alice_v2):
    created = alice_v2.post("/organizations", {"name": "Initech", "address": {"value": "1 Main St"}})
    assert created.status == 201 and created.data["address"] == {"value": "1 Main St"}
    org_id = created.data["id"]
    patched = alice_v2.patch(f"/organizations/{org_id}", {"name": "Initrode", "address": None})
    assert patched.data["name"] == "Initrode" and patched.data["address"] is None
    assert_error(alice_v2.patch(f"/organizations/{org_id}", {"address": {"country": "US"}}), 400)
    assert Organization.objects.get(pk=org_id).name == "Initrode"


def test_deleting_a_deal_keeps_its_mail_and_only_drops_the_link(alice, alice_v2, alice_mailbox, acme):
    deal = DealFactory(company=acme)
    convo = receive(alice_mailbox).conversation_id
    services.link_deal(alice, convo, deal.pk)
    reply = alice_v2.delete(f"/deals/{deal.pk}")
    assert reply.status == 200 and reply.data == {"id": deal.pk}
    assert not Deal.objects.filter(pk=deal.pk).exists()
    conversation = Conversation.objects.get(pk=convo)
    assert conversation.deal_id is None and Message.objects.filter(conversation=conversation).count() == 1
    assert_error(alice_v2.get(f"/deals/{deal.pk}"), 404)


def test_deleting_a_person_or_organization_keeps_the_mail(alice_v2, alice_mailbox, acme):
    org = OrganizationFactory(company=acme)
    person = add_person(acme, "Dana", "dana@client.test", organization=org)
    convo = receive(alice_mailbox, parsed(sender="dana@client.test", to=(alice_mailbox.address,)))
    assert alice_v2.delete(f"/persons/{person.pk}").data == {"id": person.pk}
    assert alice_v2.delete(f"/organizations/{org.pk}").data == {"id": org.pk}
    assert not PersonEmail.objects.exists() and not Organization.objects.exists()
    participant = Participant.objects.get(conversation_id=convo.conversation_id, address="dana@client.test")
    assert participant.person_id is None
    assert Message.objects.filter(pk=convo.message_id).exists()


# --- tenant isolation ------------------------------------------------------------------------


def test_carol_sees_none_of_acmes_records_and_changes_nothing(carol, acme):
    org = OrganizationFactory(company=acme, name="Acme's org")
    person = add_person(acme, "Acme's person", "p@acme-client.test", organization=org)
    deal = DealFactory(company=acme, title="Acme's deal", person=person, organization=org)
    carol_v2 = v2(carol)
    for path in ("/deals", "/persons", "/organizations"):
        assert carol_v2.get(path).data == []
        assert carol_v2.get(path, ids=f"{deal.pk},{person.pk},{org.pk}").data == []
    for path, pk in (("/deals", deal.pk), ("/persons", person.pk), ("/organizations", org.pk)):
        assert_error(carol_v2.get(f"{path}/{pk}"), 404)
        assert_error(
            carol_v2.patch(f"{path}/{pk}", {"name": "x"} if path != "/deals" else {"title": "x"}), 404
        )
        assert_error(carol_v2.delete(f"{path}/{pk}"), 404)
    assert Deal.objects.get(pk=deal.pk).title == "Acme's deal"
    assert Person.objects.filter(pk=person.pk).exists() and Organization.objects.filter(pk=org.pk).exists()


def test_bob_sees_his_companys_records(bob, acme):
    deal = DealFactory(company=acme)
    assert [d["id"] for d in v2(bob).get("/deals").data] == [deal.pk]


# --- v1 shapes the typed clients expect ------------------------------------------------------


def test_v1_leads_carry_every_field_of_the_clients_lead_type(alice_api, acme):
    LeadFactory(company=acme, title="Lumbergh")
    reply = alice_api.get("/leads")
    lead = reply.data[0]
    typed = {
        *("id", "title", "owner_id", "creator_id", "label_ids", "person_id", "organization_id"),
        *("source_name", "origin", "origin_id", "channel", "channel_id", "source_deal_id"),
        *("is_archived", "was_seen", "value", "expected_close_date", "next_activity_id"),
        *("add_time", "update_time", "visible_to", "cc_email"),
    }
    assert typed <= set(lead)
    assert lead["source_name"] == "Manually created" and lead["visible_to"] == "3"
    assert lead["add_time"].endswith("Z")
    assert reply.flat_pagination == {"start": 0, "limit": 100, "more_items_in_collection": False}


def test_v1_mail_message_has_the_mail_service_envelope(alice_api, alice_mailbox):
    message_id = receive(alice_mailbox).message_id
    reply = alice_api.get(f"/mailbox/mailMessages/{message_id}", include_body=1)
    assert reply.body["statusCode"] == 200 and reply.body["statusText"] == "OK"
    assert reply.body["service"] and reply.data["body"] == "Hello there"
