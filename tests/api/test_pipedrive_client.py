"""A real Pipedrive client (pipedrive-python-lib, unpatched) pointed at a live server.

The library builds URLs as <domain>v1/<path>, sends api_token as a query parameter and
turns Pipedrive's error statuses into its own exceptions: if our shapes or statuses
drift from Pipedrive's, this is where an existing integration would break.
"""

from __future__ import annotations

import pytest
from django.db import connections
from pipedrive import exceptions
from pipedrive.client import Client as PipedriveClient

from api.tokens import issue_token
from inbox.models import Conversation, ConversationState
from tests.factories import DealFactory, LeadFactory, OrganizationFactory, add_person, parsed, receive

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pipedrive(live_server, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the live server is local
    # Each live-server request runs in its own thread; with persistent connections those
    # threads would keep sessions open and block dropping the test database at the end.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)

    def client_for(user) -> PipedriveClient:  # type: ignore[no-untyped-def]
        client = PipedriveClient(domain=f"{live_server.url}/api/")
        client.set_api_token(issue_token(user))
        return client

    return client_for


def test_crm_reads_and_creates_through_the_pipedrive_client(pipedrive, alice, acme):
    org = OrganizationFactory(company=acme, name="Initech")
    person = add_person(acme, "Peter Gibbons", "peter@initech.test", organization=org)
    DealFactory(company=acme, title="TPS reports", person=person, organization=org)
    lead = LeadFactory(company=acme, title="Lumbergh")
    client = pipedrive(alice)

    deals = client.deals.get_all_deals()
    assert deals["success"] is True and [d["title"] for d in deals["data"]] == ["TPS reports"]
    assert deals["additional_data"]["pagination"]["more_items_in_collection"] is False

    created = client.deals.create_deal({"title": "Stapler", "value": 25, "currency": "USD", "org_id": org.pk})
    assert created["data"]["title"] == "Stapler" and created["data"]["org_name"] == "Initech"
    assert client.deals.get_deal(created["data"]["id"])["data"]["value"] == 25

    new_person = client.persons.create_person({"name": "Milton", "email": ["milton@initech.test"]})
    assert new_person["data"]["primary_email"] == "milton@initech.test"
    assert {p["name"] for p in client.persons.get_all_persons()["data"]} == {"Peter Gibbons", "Milton"}
    assert client.organizations.get_organization(org.pk)["data"]["people_count"] == 1
    assert client.leads.get_lead(str(lead.pk))["data"]["title"] == "Lumbergh"
    assert [ld["id"] for ld in client.leads.get_all_leads()["data"]] == [str(lead.pk)]


def test_mailbox_through_the_pipedrive_client(pipedrive, alice, alice_mailbox, acme):
    deal = DealFactory(company=acme, title="Big one")
    convo = receive(alice_mailbox, parsed(subject="Contract", to=(alice_mailbox.address,))).conversation_id
    client = pipedrive(alice)
    base = client.BASE_URL

    threads = client._get(base + "mailbox/mailThreads", params={"folder": "inbox", "start": 0, "limit": 50})
    assert [t["id"] for t in threads["data"]] == [convo]

    # Form-encoded, the way Pipedrive's own docs send PUT bodies.
    updated = client._put(
        base + f"mailbox/mailThreads/{convo}", data={"deal_id": deal.pk, "archived_flag": 1}
    )
    assert updated["data"]["deal_id"] == deal.pk and updated["data"]["archived_flag"] == 1
    assert Conversation.objects.get(pk=convo).state == ConversationState.ARCHIVED
    archived = client._get(base + "mailbox/mailThreads", params={"folder": "archive"})
    assert [t["id"] for t in archived["data"]] == [convo]

    linked = client.deals.get_deal_mail_messages(deal.pk)
    assert [item["data"]["mail_thread_id"] for item in linked["data"]] == [convo]

    messages = client._get(base + f"mailbox/mailThreads/{convo}/mailMessages")
    one = client._get(base + f"mailbox/mailMessages/{messages['data'][0]['id']}", params={"include_body": 1})
    assert one["data"]["body"] == "Hello there"

    assert client._delete(base + f"mailbox/mailThreads/{convo}")["data"] == {"id": convo}
    assert not Conversation.objects.filter(pk=convo).exists()


def test_pipedrive_client_raises_its_own_errors_for_our_statuses(pipedrive, alice, carol, alice_mailbox):
    convo = receive(alice_mailbox).conversation_id
    wrong = pipedrive(alice)
    wrong.set_api_token("f" * 40)
    with pytest.raises(exceptions.UnauthorizedError) as unauthorized:
        wrong.deals.get_all_deals()
    assert unauthorized.value.args[0] == "unauthorized access"
    with pytest.raises(exceptions.NotFoundError):
        pipedrive(carol)._get(wrong.BASE_URL + f"mailbox/mailThreads/{convo}")
    with pytest.raises(exceptions.BadRequestError):
        pipedrive(alice)._put(wrong.BASE_URL + f"mailbox/mailThreads/{convo}", data={"archived_flag": 2})
    assert Conversation.objects.get(pk=convo).state == ConversationState.INBOX
