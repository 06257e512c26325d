"""Why a pulled group's transaction reads by index (sync/store.py ``look_up_by_index``): the
plan PostgreSQL keeps for a foreign-key check, made while emptied and vacuumed tables are
small, reads the whole table — and the setting gives the key's index instead."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from sync.store import look_up_by_index
from tests.factories import receive

pytestmark = pytest.mark.django_db(transaction=True)

# The statement PostgreSQL's referential-integrity trigger runs for each new message row.
CHECK = 'SELECT 1 FROM ONLY "inbox_conversation" x WHERE "id" OPERATOR(pg_catalog.=) $1 FOR KEY SHARE OF x'


def kept_plan(*, by_index: bool) -> str:
    """The plan the check keeps (a generic plan: made once, reused for every row)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if by_index:
            look_up_by_index()
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE fk_check(bigint) AS {CHECK}")
        try:
            cursor.execute("EXPLAIN EXECUTE fk_check(1)")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE fk_check")


def test_a_key_check_planned_on_an_emptied_table_reads_the_table_unless_the_group_reads_by_index(
    alice_mailbox,
):
    with connection.cursor() as cursor:
        cursor.execute('VACUUM "inbox_conversation"')  # empty: 0 rows in its statistics
    for n in range(20):  # the first small group: one page
        receive(alice_mailbox, subject=f"Lead {n}")

    assert "Seq Scan on inbox_conversation" in kept_plan(by_index=False)
    plan = kept_plan(by_index=True)
    assert "Index" in plan and "inbox_conversation_pkey" in plan
    assert "Seq Scan" not in plan
