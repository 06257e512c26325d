"""List reads are pinned: the same number of queries for 1 and for 50 conversations."""

from __future__ import annotations

import pytest

from inbox import selectors, services
from tests.factories import DealFactory, ProjectFactory, receive

pytestmark = pytest.mark.django_db

# The mailboxes, the rows with deal/lead (the merged page keys a subquery of it: was a query
# of its own, 4 → 3), their participants.
FOLDER_PAGE_QUERIES = 3


def _fill(alice, account, acme, n):  # type: ignore[no-untyped-def]
    deal = DealFactory(company=acme)
    project = ProjectFactory(company=acme)
    for i in range(n):
        result = receive(account, subject=f"Thread {i}")
        services.link_deal(alice, result.conversation_id, deal.pk)
        services.link_project(alice, result.conversation_id, project.pk)
    return deal


@pytest.mark.parametrize("n", [1, 50])
def test_inbox_page_query_count_does_not_grow_with_rows(
    alice, alice_mailbox, acme, n, django_assert_num_queries
):
    _fill(alice, alice_mailbox, acme, n)
    with django_assert_num_queries(FOLDER_PAGE_QUERIES):
        page = selectors.folder_page(alice, "inbox")
        for conversation in page.conversations:
            _ = (conversation.deal.title, conversation.account.address, conversation.listed_participants)
    assert len(page.conversations) == n


@pytest.mark.parametrize("n", [1, 50])
def test_history_query_count_does_not_grow_with_rows(
    alice, alice_mailbox, acme, n, django_assert_num_queries
):
    deal = _fill(alice, alice_mailbox, acme, n)
    with django_assert_num_queries(2):  # the record's company check, then the emails
        emails = selectors.history_emails(alice, "deal", deal.pk)
        for message in emails:
            _ = message.conversation.state
    assert len(emails) == n


def test_keyset_pagination_walks_every_conversation_once_even_with_equal_times(alice, alice_mailbox):
    from django.utils import timezone

    from inbox.models import Conversation

    ids = {receive(alice_mailbox, subject=f"S{i}").conversation_id for i in range(7)}
    Conversation.objects.filter(pk__in=list(ids)[:4]).update(last_message_at=timezone.now())
    seen: list[int] = []
    cursor = None
    while True:
        page = selectors.folder_page(alice, "inbox", cursor=cursor, limit=3)
        seen += [c.pk for c in page.conversations]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids) and len(seen) == 7


@pytest.mark.parametrize("n", [1, 50])
def test_page_across_personal_and_team_mailboxes_is_pinned_and_merged_newest_first(
    alice, alice_mailbox, sales_mailbox, n, django_assert_num_queries
):
    for i in range(n):
        receive(alice_mailbox if i % 2 else sales_mailbox, subject=f"Mixed {i}")
    with django_assert_num_queries(FOLDER_PAGE_QUERIES):
        page = selectors.folder_page(alice, "inbox")
        _ = [c.listed_participants for c in page.conversations]
    times = [c.last_message_at for c in page.conversations]
    assert len(page.conversations) == n and times == sorted(times, reverse=True)
    if n > 1:
        assert {c.account_id for c in page.conversations} == {alice_mailbox.pk, sales_mailbox.pk}


def test_nav_counts_compiled_once_count_each_users_own_mailboxes(
    alice, bob, alice_mailbox, bob_mailbox, sales_mailbox
):
    """The counts' SQL is compiled once per number of mailboxes; the ids are each caller's."""
    for i in range(3):
        receive(alice_mailbox, subject=f"Alice {i}")
    receive(sales_mailbox, subject="Team")
    for i in range(2):
        receive(bob_mailbox, subject=f"Bob {i}")
    services.archive_conversations(alice, [receive(alice_mailbox, subject="Old").conversation_id])
    # Alice and bob each have two mailboxes (their own and the team's): one compiled query.
    assert selectors.nav_counts(alice) == {"inbox": 4, "inbox_unread": 4, "sent": 0, "archive": 1}
    assert selectors.nav_counts(bob) == {"inbox": 3, "inbox_unread": 3, "sent": 0, "archive": 0}
    # One mailbox each: another compiled query, again with each caller's id.
    assert selectors.nav_counts(alice, account_id=sales_mailbox.pk)["inbox"] == 1
    assert selectors.nav_counts(bob, account_id=bob_mailbox.pk)["inbox"] == 2
    assert selectors.nav_counts(bob, account_id=alice_mailbox.pk)["inbox"] == 0
    services.mark_read(bob, [c.pk for c in selectors.folder_page(bob, "inbox").conversations], read=True)
    assert selectors.nav_counts(bob)["inbox_unread"] == 0
    assert selectors.nav_counts(alice)["inbox_unread"] == 3  # the team's conversation is read now
