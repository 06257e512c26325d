"""Search over subject, participants and body (PostgreSQL full-text, word prefixes)."""

from __future__ import annotations

import pytest
from django.db import connection

from inbox import selectors, services
from tests.factories import receive

pytestmark = pytest.mark.django_db


def _ids(user, query, folder="inbox", **kwargs):  # type: ignore[no-untyped-def]
    return {c.pk for c in selectors.search_page(user, folder, query, **kwargs).conversations}


@pytest.fixture
def mail(alice_mailbox, sales_mailbox):  # type: ignore[no-untyped-def]
    # Two mailboxes, so the per-mailbox merge is what gets tested.
    return {
        "pricing": receive(alice_mailbox, subject="Pricing for Q3", text="Numbers attached").conversation_id,
        "nda": receive(
            alice_mailbox, subject="Legal", sender="anna.berg@northwind.test", text="Signed NDA below"
        ).conversation_id,
        "kickoff": receive(
            sales_mailbox, subject="Kick-off agenda", text="Procurement joins too"
        ).conversation_id,
    }


def test_word_prefixes_match_in_subject_body_and_people(alice, mail):
    assert _ids(alice, "pric") == {mail["pricing"]}
    assert _ids(alice, "procurement") == {mail["kickoff"]}
    assert _ids(alice, "northwind") == {mail["nda"]}
    assert _ids(alice, "Anna") == {mail["nda"]}


def test_every_word_must_match_somewhere(alice, mail):
    assert _ids(alice, "anna signed") == {mail["nda"]}  # a person and a body word
    assert _ids(alice, "anna pricing") == set()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is the PostgreSQL path")
def test_postgresql_searches_words_not_substrings(alice, mail):
    assert _ids(alice, "ricing") == set()  # "Pricing" is a word, not a substring match


def test_search_stays_in_the_folder_unless_all_mail(alice, mail):
    services.archive_conversations(alice, [mail["pricing"]])
    assert _ids(alice, "pricing") == set()
    assert _ids(alice, "pricing", "archive") == {mail["pricing"]}
    assert _ids(alice, "pricing", "all") == {mail["pricing"]}
    assert _ids(alice, "a", "all") == set(mail.values())


def test_punctuation_and_empty_queries_are_harmless(alice, mail):
    assert _ids(alice, "   ") == set()
    assert _ids(alice, "!!! & | : * ( ) '") == set()
    assert _ids(alice, "pric:* & !") == {mail["pricing"]}


def test_search_never_finds_another_company_s_or_teammate_s_mail(bob, carol, mail):
    assert _ids(carol, "pricing") == set()
    assert _ids(bob, "pricing") == set()  # alice's personal mailbox
    assert _ids(bob, "procurement") == {mail["kickoff"]}  # the team mailbox they share


def test_search_is_keyset_paged(alice, alice_mailbox):
    ids = {receive(alice_mailbox, subject=f"Renewal {i}").conversation_id for i in range(7)}
    seen: list[int] = []
    cursor = None
    while True:
        page = selectors.search_page(alice, "inbox", "renewal", cursor=cursor, limit=3)
        seen += [c.pk for c in page.conversations]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids)


def test_neighbours_follow_the_folder_order_across_mailboxes(alice, alice_mailbox, sales_mailbox):
    from datetime import timedelta

    from django.utils import timezone

    from inbox.models import Conversation

    now = timezone.now()
    ids = []
    for i, account in enumerate([alice_mailbox, sales_mailbox, alice_mailbox, sales_mailbox]):
        convo = receive(account, subject=f"N{i}").conversation_id
        Conversation.objects.filter(pk=convo).update(last_message_at=now - timedelta(minutes=i))
        ids.append(convo)  # newest first
    services.archive_conversations(alice, [ids[2]])
    middle = Conversation.objects.get(pk=ids[1])
    around = selectors.conversation_neighbours(alice, middle, "inbox")
    assert (around.newer_id, around.older_id) == (ids[0], ids[3])  # the archived one is skipped
    newest = selectors.conversation_neighbours(alice, Conversation.objects.get(pk=ids[0]), "inbox")
    assert newest.newer_id is None and newest.older_id == ids[1]
