"""Every field the official Node client's generated types declare is in our responses.

The types come from the pinned client itself (tests/api/node_client, npm ``pipedrive``,
installed by ``npm ci``): the property names of its TypeScript declarations for a v2 Deal,
Person and OrganizationItem, a v1 Lead, MailThread and MailMessageData. A field we leave out
on purpose must be in ``ABSENT`` and named in docs/api.md's known differences.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api.conftest import Api
from tests.api.test_pipedrive_node_client import CLIENT_DIR, _npm_ci
from tests.api.test_v2 import v2
from tests.factories import DealFactory, LeadFactory, OrganizationFactory, add_person, receive

# slow: installs the pinned client with npm ci when it is not there yet (not in `make quick`).
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

MODELS = CLIENT_DIR / "node_modules" / "pipedrive" / "dist" / "esm" / "versions"
DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "api.md"
# Declared by the client, deliberately not sent (each named in docs/api.md, "Known differences").
ABSENT = {
    # Pipedrive sends these only when contact sync is on for the company; there is none here.
    "Person": {"notes", "im", "birthday", "job_title"},
    "MailMessageData": {"mail_tracking_status", "body_url"},
    "MailThread": {
        "mail_tracking_status",
        # Not kept per conversation (a thread's messages would have to be read for each).
        *("has_inline_attachments_flag", "has_real_attachments_flag"),
        *("last_message_sent_timestamp", "last_message_received_timestamp", "first_message_to_me_flag"),
        # Drafts live in the app, outside threads; threads are not versioned.
        *("drafts_parties", "snippet_draft", "snippet_sent", "version"),
    },
}


def declared(version: str, *models: str) -> set[str]:
    """The property names of the client's interfaces (``'name'?: type;`` lines)."""
    _npm_ci()
    names: set[str] = set()
    for model in models:
        text = (MODELS / version / "models" / f"{model}.d.ts").read_text()
        names |= set(re.findall(r"^\s+'([A-Za-z_0-9]+)'\??:", text, flags=re.MULTILINE))
    assert names, models
    return names


def test_v2_deal_person_and_organization_carry_every_field_of_the_clients_types(alice, acme):
    org = OrganizationFactory(company=acme, name="Initech", address="1 Main St", owner=alice)
    person = add_person(acme, "Peter Gibbons", "peter@initech.test", organization=org)
    deal = DealFactory(company=acme, owner=alice, person=person, organization=org)
    api = v2(alice)
    for path, model in (
        (f"/deals/{deal.pk}", "deal"),
        (f"/persons/{person.pk}", "person"),
        (f"/organizations/{org.pk}", "organization-item"),
    ):
        one = api.get(path).data
        listed = api.get(path.rsplit("/", 1)[0]).data[0]
        expected_missing = ABSENT["Person"] if model == "person" else set()
        for reply in (one, listed):
            missing = declared("v2", model) - set(reply)
            assert missing == expected_missing, (path, sorted(missing))


def test_v1_lead_thread_and_message_carry_every_field_of_the_clients_types(
    alice_api: Api, alice_mailbox, acme
):
    LeadFactory(company=acme, title="Lumbergh")
    lead = alice_api.get("/leads").data[0]
    missing = declared("v1", "lead") - set(lead)
    assert not missing, sorted(missing)

    received = receive(alice_mailbox)
    thread = alice_api.get(f"/mailbox/mailThreads/{received.conversation_id}").data
    thread_fields = declared("v1", "mail-thread-all-of", "mail-thread-all-of1")
    listed = alice_api.get("/mailbox/mailThreads", folder="inbox").data[0]
    for reply in (thread, listed):
        missing = thread_fields - set(reply)
        assert missing == ABSENT["MailThread"], sorted(missing)

    message = alice_api.get(f"/mailbox/mailMessages/{received.message_id}", include_body=1).data
    missing = declared("v1", "mail-message-data") - set(message)
    assert missing == ABSENT["MailMessageData"], sorted(missing)


def test_every_field_left_out_on_purpose_is_named_in_the_api_docs():
    differences = DOCS.read_text().split("## Known differences from Pipedrive", 1)[1]
    for field in set().union(*ABSENT.values()):
        assert f"`{field}`" in differences, field
