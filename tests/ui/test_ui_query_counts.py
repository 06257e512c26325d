"""No page's query count grows with the rows it shows: pinned for 1 and for 50."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inbox import services
from tests.factories import DealFactory, ProjectFactory, add_person, parsed, receive
from tests.ui.conftest import HTMX

pytestmark = pytest.mark.django_db

# Session and user, then: the page of rows (4: mailbox ids, keys, rows, participants),
# the navigation counts (2: mailbox ids, the four capped counts in one) and the mailbox list.
INBOX_PAGE = 9
SEARCH_PAGE = 9
# Session, user, conversation + projects + participants, messages, may-act check,
# mark read (savepoint, lock, update, the messages' refs, the outbox row, release: it is
# mirrored to the mailbox), neighbours (3), navigation counts (2).
CONVERSATION_PAGE = 18
HISTORY_FRAGMENT = 5
CRM_DETAIL = 3
CRM_LIST = 3


def _linked_threads(alice, account, acme, n):  # type: ignore[no-untyped-def]
    deal = DealFactory(company=acme)
    project = ProjectFactory(company=acme)
    person = add_person(acme, "Tara Lind", "tara@client.test")
    for i in range(n):
        result = receive(account, subject=f"Thread {i}", sender="tara@client.test", text=f"body {i} needle")
        services.link_deal(alice, result.conversation_id, deal.pk)
        services.link_project(alice, result.conversation_id, project.pk)
    return deal, person


@pytest.mark.parametrize("n", [1, 50])
def test_inbox_page(as_alice, alice, alice_mailbox, sales_mailbox, acme, n, django_assert_num_queries):
    _linked_threads(alice, alice_mailbox, acme, n)
    with django_assert_num_queries(INBOX_PAGE):
        response = as_alice.get(reverse("inbox:folder"))
    assert response.content.decode().count('<li id="conv-') == n


@pytest.mark.parametrize("n", [1, 50])
def test_search_page(as_alice, alice, alice_mailbox, acme, n, django_assert_num_queries):
    _linked_threads(alice, alice_mailbox, acme, n)
    with django_assert_num_queries(SEARCH_PAGE):
        response = as_alice.get(reverse("inbox:folder"), {"q": "needle"})
    assert response.content.decode().count('<li id="conv-') == n


@pytest.mark.parametrize("n", [1, 50])
def test_conversation_page(as_alice, alice, alice_mailbox, acme, n, django_assert_num_queries):
    person = add_person(acme, "Tara Lind", "tara@client.test")
    opening = parsed(subject="Long thread", sender="tara@client.test", message_id="<t0@x>")
    first = receive(alice_mailbox, opening)
    for i in range(1, n):
        receive(
            alice_mailbox,
            parsed(
                subject="Re: Long thread",
                sender=f"p{i}@client.test",
                message_id=f"<t{i}@x>",
                in_reply_to=f"<t{i - 1}@x>",
            ),
        )
    services.link_project(alice, first.conversation_id, ProjectFactory(company=acme).pk)
    with django_assert_num_queries(CONVERSATION_PAGE):
        response = as_alice.get(reverse("inbox:conversation", args=[first.conversation_id]))
    html = response.content.decode()
    assert html.count('<li class="msg') == n and person.name in html


@pytest.mark.parametrize("n", [1, 50])
def test_history_fragment(as_alice, alice, alice_mailbox, acme, n, django_assert_num_queries):
    deal, _ = _linked_threads(alice, alice_mailbox, acme, n)
    with django_assert_num_queries(HISTORY_FRAGMENT):
        response = as_alice.get(reverse("inbox:history", args=["deal", deal.pk]), **HTMX)
    assert response.content.decode().count('class="history-item"') == n


@pytest.mark.parametrize("n", [1, 50])
def test_crm_detail_and_list(as_alice, alice, acme, n, django_assert_num_queries):
    from tests.factories import OrganizationFactory

    org = OrganizationFactory(company=acme)
    for i in range(n):
        add_person(acme, f"P{i}", f"p{i}@org.test", organization=org)
        DealFactory(company=acme, organization=org)
    with django_assert_num_queries(CRM_DETAIL + 2):  # + the org's people and deals
        as_alice.get(reverse("crm:organization", args=[org.pk]))
    with django_assert_num_queries(CRM_LIST):
        response = as_alice.get(reverse("crm:list", args=["deal"]))
    assert response.content.decode().count('class="cell-title"') == n
