"""QRESYNC VANISHED asked about the known UIDs as ranges: holes and far-apart UIDs still
report exactly what left, and nothing else."""

from __future__ import annotations

from inbox.models import Message, ProviderRef
from tests.imap.conftest import ImapSetup


def test_vanished_across_ranges_with_holes_deletes_exactly_what_went_to_trash(imap: ImapSetup):
    ids = [imap.deliver(subject=f"Quote {n}") for n in range(12)]
    # A hole in the known UIDs: two messages deleted for good in the mail client are gone
    # from the app too, so the known set is several ranges, not one.
    imap.pull()
    for mid in (ids[3], ids[4]):
        imap.expunge(mid, "inbox")
    imap.pull()
    imap.pull()  # gone from every folder on two complete checks in a row: deleted
    known = sorted(ProviderRef.objects.filter(account=imap.account).values_list("uid", flat=True))
    assert len(known) == 10 and known != list(range(known[0], known[0] + 10))

    # One from each range goes to Trash, one is archived (a move, not a delete).
    for mid in (ids[1], ids[9]):
        imap.move(mid, "inbox", "trash")
    imap.move(ids[6], "inbox", "archive")
    summary = imap.pull()

    left = set(Message.objects.filter(account=imap.account).values_list("message_id", flat=True))
    assert summary.report.deleted == 2
    assert left == {ids[n] for n in (0, 2, 5, 6, 7, 8, 10, 11)}
    archived = ProviderRef.objects.get(account=imap.account, message__message_id=ids[6])
    assert archived.folder == imap.folder("archive")


def test_a_pull_after_changes_asks_whether_a_folder_has_references_by_an_index_probe(imap: ImapSetup):
    """The QRESYNC path's "any reference in this folder?" is asked in ref_folder_uid_idx's
    order with LIMIT 1. A bare EXISTS let PostgreSQL scan the table from its start through
    every other account's rows (74 ms behind 120,000 rows in the incremental bench)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = imap.deliver(subject="Quote for alice", sender="alice@client.test")
    imap.pull()
    imap.deliver(subject="Re: Quote for alice", sender="bob@client.test")
    imap.move(first, "inbox", "archive")
    with CaptureQueriesContext(connection) as queries:
        summary = imap.pull()

    assert summary.report.created == 1
    probes = [
        q["sql"]
        for q in queries
        if q["sql"].startswith('SELECT "inbox_providerref"."uid" AS "uid" FROM')
        and q["sql"].endswith(" LIMIT 1")
    ]
    # Ordered like the index (account, folder, uid — Django names the selected uid "1").
    order = 'ORDER BY "inbox_providerref"."account_id" ASC, "inbox_providerref"."folder" ASC, 1 ASC'
    assert probes and all(order in sql for sql in probes), probes
    assert not [q["sql"] for q in queries if q["sql"].startswith('SELECT 1 AS "a" FROM "inbox_providerref"')]
