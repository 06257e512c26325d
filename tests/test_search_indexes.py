"""The full-text search is backed by GIN indexes on the exact expressions it queries."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_search_expressions_have_gin_indexes_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE indexname IN ('msg_text_fts', 'conv_subject_fts')"
        )
        found = dict(cursor.fetchall())
    assert set(found) == {"msg_text_fts", "conv_subject_fts"}
    assert "gin (to_tsvector('simple'::regconfig, COALESCE(text, ''::text)))" in found["msg_text_fts"]


def test_search_query_can_use_the_index(alice, alice_mailbox):
    from django.contrib.postgres.search import SearchQuery, SearchVector

    from inbox.models import Message

    qs = (
        Message.objects.annotate(_doc=SearchVector("text", config="simple"))
        .filter(_doc=SearchQuery("pricing:*", search_type="raw", config="simple"))
        .values("id")
    )
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            plan = qs.explain()
        finally:
            cursor.execute("SET enable_seqscan = on")
    assert "msg_text_fts" in plan
