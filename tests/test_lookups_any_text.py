"""``any_text`` (inbox/lookups.py) sends its strings as one ``text[]`` literal it quotes
itself: every string must come back from PostgreSQL exactly as it was, whatever it holds."""

from __future__ import annotations

import pytest
from django.db import connection

from inbox.lookups import any_text, text_array
from inbox.models import Message
from tests.factories import parsed, receive

pytestmark = pytest.mark.django_db

ODD = [
    "<a@b>", 'say "hi"', "back\\slash", 'both \\" mixed', "NULL", "null", "", " padded ",
    "{braces}", "a,b", "tab\there", "line\nbreak", "ünïcødé", "\u3000",
]  # fmt: skip


def test_odd_strings_reach_postgresql_as_they_are():
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [text_array(ODD)])
        assert cursor.fetchone()[0] == ODD
        cursor.execute("SELECT %s::text[]", [text_array([])])
        assert cursor.fetchone()[0] == []


def test_any_text_finds_exactly_the_rows_whose_value_is_listed(alice_mailbox):
    for n, mid in enumerate(ODD):
        receive(alice_mailbox, parsed(message_id=mid, subject=f"Lead {n}", to=(alice_mailbox.address,)))
    wanted = ['say "hi"', "back\\slash", "NULL", "", "{braces}", "not there"]
    found = Message.objects.filter(account=alice_mailbox).filter(any_text("message_id", wanted))
    assert sorted(found.values_list("message_id", flat=True)) == sorted(set(wanted) - {"not there"})
    assert not Message.objects.filter(account=alice_mailbox).filter(any_text("message_id", [])).exists()
