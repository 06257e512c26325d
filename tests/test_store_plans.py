"""The plans a first sync's store depends on, where PostgreSQL's statistics mislead it: the
plan it keeps for a foreign-key check on emptied, vacuumed tables (sync/store.py
``look_up_by_index``), and the ingest's probes for a mailbox the statistics do not know
(inbox/services/ingest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from inbox.lookups import text_array
from inbox.services import ingest
from sync.store import look_up_by_index
from tests.factories import personal_account, receive

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


PROBE_INDEXES = [
    (ingest._REFS_SQL, "provider_ref_unique", "key"),
    (ingest._MESSAGES_SQL.format(column="message_id"), "msg_account_mid_idx", "message_id"),
    (ingest._MESSAGES_SQL.format(column="in_reply_to"), "msg_account_irt_idx", "in_reply_to"),
    (ingest._CANDIDATES_SQL, "conv_subject_idx", "normalized_subject"),
]


@pytest.mark.parametrize(("sql", "index", "column"), PROBE_INDEXES, ids=[i for _s, i, _c in PROBE_INDEXES])
def test_the_ingest_probes_a_mailbox_unknown_to_the_statistics_by_its_value_index(
    alice_mailbox, bob, sql, index, column
):
    # The statistics know alice's mailbox only: for bob's new one they estimate one row, which
    # made any index starting with the account look as good as the (account, value) one.
    for n in range(300):
        receive(alice_mailbox, subject=f"Lead {n}", in_reply_to=f"<p{n}@client.test>")
    with connection.cursor() as cursor:
        for table in ("inbox_conversation", "inbox_message", "inbox_participant", "inbox_providerref"):
            cursor.execute(f'ANALYZE "{table}"')
    new_mailbox = personal_account(bob)
    params = [text_array([f"value {n}" for n in range(200)]), new_mailbox.pk]
    if sql is ingest._CANDIDATES_SQL:
        params += [timezone.now() - timedelta(days=60), timezone.now(), text_array(["buyer@client.test"])]
    with transaction.atomic(), connection.cursor() as cursor:
        look_up_by_index()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    scan = plan.split(f"using {index} on", 1)
    assert len(scan) == 2, plan
    condition = scan[1].split("Index Cond:", 1)[1].split("\n", 1)[0]
    assert "account_id = $" in condition and column in condition, plan
