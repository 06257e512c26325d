"""Every list endpoint costs the same number of queries for 1 row and for 50.

The numbers include the token lookup (1 query; the hourly last-used write is warmed up
before counting).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from api.tokens import issue_token
from crm.models import PersonEmail
from inbox import services
from tests.api.conftest import Api
from tests.factories import DealFactory, LeadFactory, OrganizationFactory, add_person, parsed, receive

pytestmark = pytest.mark.django_db

# token, mailbox ids, merged page keys, rows with account/deal/lead, parties with persons
THREAD_LIST = 5
# token, deal/person company check, messages with conversation+account, their parties
RECORD_MAIL = 4


def _warm(api) -> None:  # type: ignore[no-untyped-def]
    api.get("/deals")  # records last_used_at, which later requests within the hour skip


@pytest.mark.parametrize("n", [1, 50])
def test_thread_list_is_pinned(
    alice, alice_api, alice_mailbox, sales_mailbox, acme, n, django_assert_num_queries
):
    deal, person = DealFactory(company=acme), add_person(acme, "Linked", "linked@client.test")
    for i in range(n):
        account = alice_mailbox if i % 2 else sales_mailbox  # both branches of the merge
        convo = receive(account, parsed(subject=f"T{i}", sender="linked@client.test", to=(account.address,)))
        services.link_deal(alice, convo.conversation_id, deal.pk)
    _warm(alice_api)
    with django_assert_num_queries(THREAD_LIST):
        reply = alice_api.get("/mailbox/mailThreads")
    assert len(reply.data) == n
    assert all(t["deal_status"] == "open" for t in reply.data)
    assert all(t["parties"]["from"][0]["linked_person_id"] == person.pk for t in reply.data)


@pytest.mark.parametrize("n", [1, 50])
def test_thread_messages_are_pinned(alice_api, alice_mailbox, n, django_assert_num_queries):
    first = receive(alice_mailbox, parsed(subject="Long thread", message_id="<root@client.test>"))
    now = timezone.now()
    for i in range(n - 1):
        receive(
            alice_mailbox,
            parsed(
                subject="Re: Long thread", in_reply_to="<root@client.test>", when=now - timedelta(seconds=i)
            ),
        )
    _warm(alice_api)
    # token, thread, its parties with persons, the messages
    with django_assert_num_queries(4):
        reply = alice_api.get(f"/mailbox/mailThreads/{first.conversation_id}/mailMessages")
    assert len(reply.data) == n


@pytest.mark.parametrize("kind", ["deal", "person"])
@pytest.mark.parametrize("n", [1, 50])
def test_record_mail_is_pinned(alice, alice_api, alice_mailbox, acme, kind, n, django_assert_num_queries):
    deal, person = DealFactory(company=acme), add_person(acme, "Pat", "pat@client.test")
    for i in range(n):
        convo = receive(
            alice_mailbox, parsed(subject=f"R{i}", sender="pat@client.test", to=(alice_mailbox.address,))
        )
        services.link_deal(alice, convo.conversation_id, deal.pk)
    record = deal if kind == "deal" else person
    _warm(alice_api)
    with django_assert_num_queries(RECORD_MAIL):
        reply = alice_api.get(f"/{kind}s/{record.pk}/mailMessages")
    assert len(reply.data) == n


def _deals(acme, n):  # type: ignore[no-untyped-def]
    org = OrganizationFactory(company=acme)
    for i in range(n):
        person = add_person(acme, f"P{i}", f"p{i}@client.test", organization=org)
        DealFactory(company=acme, person=person, organization=org)


def _persons(acme, n):  # type: ignore[no-untyped-def]
    org = OrganizationFactory(company=acme)
    for i in range(n):
        person = add_person(acme, f"P{i}", f"p{i}@client.test", organization=org)
        PersonEmail.objects.create(company=acme, person=person, email=f"p{i}@home.test")


def _organizations(acme, n):  # type: ignore[no-untyped-def]
    for i in range(n):
        add_person(acme, f"P{i}", organization=OrganizationFactory(company=acme))


def _leads(acme, n):  # type: ignore[no-untyped-def]
    for _ in range(n):
        LeadFactory(company=acme)


@pytest.mark.parametrize(
    ("path", "fill", "queries"),
    [
        ("/deals", _deals, 3),  # token, deals with owner/person/org, the persons' e-mails
        ("/persons", _persons, 3),  # token, persons with owner/org, their e-mails
        ("/organizations", _organizations, 2),  # token, organizations with owner and people_count
        ("/leads", _leads, 2),  # token, leads
    ],
)
@pytest.mark.parametrize("n", [1, 50])
def test_crm_lists_are_pinned(alice, alice_api, acme, path, fill, queries, n, django_assert_num_queries):
    fill(acme, n)
    _warm(alice_api)
    with django_assert_num_queries(queries):
        reply = alice_api.get(path)
    assert len(reply.data) == n


@pytest.mark.parametrize(
    ("path", "fill", "queries"),
    [
        ("/deals", _deals, 2),  # token, deals (v2 references are ids: nothing joined)
        ("/persons", _persons, 3),  # token, persons, their e-mails
        ("/organizations", _organizations, 2),  # token, organizations
    ],
)
@pytest.mark.parametrize("n", [1, 50])
def test_v2_lists_are_pinned(alice, acme, path, fill, queries, n, django_assert_num_queries):
    fill(acme, n)
    api = Api(Client(), issue_token(alice), header=True, base="/api/v2")
    api.get(path)  # warm: records last_used_at
    # The first page and a page reached by cursor cost the same.
    with django_assert_num_queries(queries):
        first = api.get(path, limit=max(n - 1, 1))
    assert len(first.data) == max(n - 1, 1)
    cursor = first.body["additional_data"]["next_cursor"]
    if cursor is not None:
        with django_assert_num_queries(queries):
            rest = api.get(path, cursor=cursor, limit=n)
        assert len(rest.data) == 1
