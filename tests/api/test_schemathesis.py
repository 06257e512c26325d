"""Schemathesis drives every operation in /api/openapi.json — API v1 and v2 — against a live server.

Generated valid and invalid requests (ids, folders, flags, bodies, missing auth, wrong
methods) must never produce a server error, and every response — successes and errors
alike — must match the schema the document publishes. Sequences are reset so the small
ids Hypothesis likes name real threads, messages, deals, persons and leads.
"""

from __future__ import annotations

import os
import secrets

import pytest
import schemathesis
from django.db import connections
from hypothesis import HealthCheck, settings

from api.models import ApiToken
from api.openapi import document
from api.tokens import digest_of
from inbox import services
from tests.factories import DealFactory, LeadFactory, OrganizationFactory, add_person, parsed, receive

# slow: 30 generated requests per operation against live_server (not in `make quick`).
pytestmark = [pytest.mark.django_db(transaction=True, reset_sequences=True), pytest.mark.slow]


@pytest.fixture
def api_token(alice, alice_mailbox, sales_mailbox, bob_mailbox, acme):  # type: ignore[no-untyped-def]
    """A small Acme workspace: threads in every folder, linked deals and leads, persons."""
    org = OrganizationFactory(company=acme, name="Initech")
    person = add_person(acme, "Peter", "peter@initech.test", organization=org)
    deal = DealFactory(company=acme, owner=alice, person=person, organization=org)
    lead = LeadFactory(company=acme, owner=alice, person=person)
    for i in range(4):
        account = alice_mailbox if i % 2 else sales_mailbox
        result = receive(
            account, parsed(subject=f"Thread {i}", sender="peter@initech.test", to=(account.address,))
        )
        if i == 1:
            services.link_deal(alice, result.conversation_id, deal.pk)
        if i == 2:
            services.link_lead(alice, result.conversation_id, lead.pk)
        if i == 3:
            services.archive_conversations(alice, [result.conversation_id])
    receive(alice_mailbox, parsed(subject="Sent", incoming=False, sender=alice_mailbox.address))
    services.set_shared(
        alice.company.users.get(email="bob@acme.test"), receive(bob_mailbox).conversation_id, True
    )
    ApiToken.objects.create(user=alice, digest=digest_of(TOKEN), hint=TOKEN[-4:])
    return TOKEN


@pytest.fixture
def base_url(live_server, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # Live-server requests run in threads of their own: don't let them keep connections.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    return f"{live_server.url}/api"


# The document the server publishes at /api/openapi.json (test_openapi pins that they
# are the same); loaded at import so each operation becomes its own test.
schema = schemathesis.openapi.from_dict(document())
# Per operation; raise it (API_FUZZ_EXAMPLES=500) for a deeper run by hand.
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "30"))
# Known before any test runs: schemathesis builds some cases (and asks the auth for its
# token) while collecting, before fixtures exist.
TOKEN = secrets.token_hex(20)


@schema.auth(refresh_interval=None, retry_on=[])
class AliceToken:
    """Alice's real token on every generated request, in the x-api-token header.

    (Where Pipedrive's official clients send it; a header keeps it apart from the query
    parameters being fuzzed. Bearer and ?api_token= are exercised by tests/api/test_auth.py
    and the Python Pipedrive client.)

    Registered as the schema's auth so schemathesis knows the credential is valid and
    probes the same requests without it and with a wrong one (those must get 401).
    """

    def get(self, case, context):  # type: ignore[no-untyped-def]
        return TOKEN

    def set(self, case, data, context):  # type: ignore[no-untyped-def]
        case.headers = {**(case.headers or {}), "x-api-token": data}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case, api_token, base_url):  # type: ignore[no-untyped-def]
    case.call_and_validate(base_url=base_url)
