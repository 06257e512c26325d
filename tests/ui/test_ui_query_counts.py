"""No page's query count grows with the rows it shows: pinned for 1 and for 50."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inbox import services
from tests.factories import DealFactory, ProjectFactory, add_person, parsed, receive
from tests.ui.conftest import HTMX

pytestmark = pytest.mark.django_db

# Session and user, then: the user's mailboxes (read once for the rows, the counts and the
# sidebar's list), the page of rows (2: the rows with their page keys as a subquery, their
# participants) and the four capped navigation counts in one. (Was 9: the mailboxes were
# read three times, and the keys in a query of their own.)
INBOX_PAGE = 6
# As the Inbox, and: search turns parallel workers off and asks PostgreSQL's estimate (the
# words' order, and whether to walk at all); the walk or the index query takes the place of
# the page keys.
SEARCH_PAGE = 9
# Session, user, the user's mailbox ids (may-act check, j/k and counts use them),
# conversation + projects + participants, messages, neighbours and navigation counts in one.
CONVERSATION_PAGE = 8
# Opening an unread conversation marks it read and mirrors that to the mailbox (issue 19):
# savepoint, lock, update, the messages' refs, the outbox row, release.
CONVERSATION_PAGE_UNREAD = CONVERSATION_PAGE + 6
# A conversation with files: their rows, for every message at once.
CONVERSATION_PAGE_WITH_FILES = CONVERSATION_PAGE + 1
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
    with django_assert_num_queries(CONVERSATION_PAGE_UNREAD):
        response = as_alice.get(reverse("inbox:conversation", args=[first.conversation_id]))
    html = response.content.decode()
    assert html.count('<li class="msg') == n and person.name in html
    with django_assert_num_queries(CONVERSATION_PAGE) as reread:
        again = as_alice.get(reverse("inbox:conversation", args=[first.conversation_id]))
    assert again.content.decode().count('<li class="msg') == n
    assert not [q for q in reread.captured_queries if not q["sql"].lstrip().startswith("SELECT")]


def test_conversation_page_with_files_reads_their_rows_in_one_query(
    as_alice, alice, alice_mailbox, django_assert_num_queries
):
    thread = []
    for i in range(3):
        message = parsed(subject="Export", message_id=f"<f{i}@x>", in_reply_to=f"<f{i - 1}@x>" if i else "")
        message.attachments = [
            {"filename": f"export-{i}.pdf", "content_type": "application/pdf", "size": 1000, "part": "2"}
        ]
        thread.append(receive(alice_mailbox, message))
    convo = thread[0].conversation_id
    as_alice.get(reverse("inbox:conversation", args=[convo]))  # marks it read
    with django_assert_num_queries(CONVERSATION_PAGE_WITH_FILES):
        response = as_alice.get(reverse("inbox:conversation", args=[convo]))
    html = response.content.decode()
    assert all(f"export-{i}.pdf" in html for i in range(3))


def test_opening_a_read_conversation_writes_nothing(as_alice, alice, alice_mailbox, sales_mailbox):
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from inbox.models import Conversation

    now = timezone.now()
    older = receive(alice_mailbox, subject="Older", when=now - timedelta(minutes=3)).conversation_id
    opened = receive(sales_mailbox, subject="Opened", when=now - timedelta(minutes=2)).conversation_id
    newer = receive(alice_mailbox, subject="Newer", when=now - timedelta(minutes=1)).conversation_id
    Conversation.objects.filter(pk__in=[older, opened, newer]).update(is_read=True)
    with CaptureQueriesContext(connection) as queries:
        response = as_alice.get(reverse("inbox:conversation", args=[opened]))
    assert response.status_code == 200
    assert [q["sql"] for q in queries.captured_queries if not q["sql"].lstrip().startswith("SELECT")] == []
    html = response.content.decode()
    # j/k still point at the neighbours across both mailboxes (one query for both now).
    for shortcut, neighbour in (("k", newer), ("j", older)):
        url = reverse("inbox:conversation", args=[neighbour])
        assert f'data-shortcut="{shortcut}" href="{url}?folder=inbox"' in html


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
