"""A lost cursor loses nothing: Exchange keeps only the last few delta generations per
folder, so the deltaLink is stored after every page run; and when one is lost anyway (410)
the folder is resynced and reconciled — each known message it no longer holds is confirmed
where it went before anything is deleted, under the mass-delete guard."""

from __future__ import annotations

import pytest

from inbox.models import AccountStatus, Message, ProviderRef
from inbox.services.mailboxes import resume_mailbox
from sync.providers.outlook import pull as outlook_pull
from sync.pull import pull_account
from tests.fakes.graph_server import DELTA_GENERATIONS
from tests.outlook.conftest import deliver, outlook_personal, pull

pytestmark = pytest.mark.django_db


def test_the_fake_forgets_delta_links_older_than_the_last_generations(ms, alice):
    """What the adapter is held to: an old deltaLink answers 410, as Exchange's does."""
    account, _ = outlook_personal(ms, alice)
    pull(account)
    from sync.models import FolderState
    from sync.providers.outlook import OutlookAdapter

    stale = FolderState.objects.get(account=account, folder="inbox").cursor
    graph = OutlookAdapter(account).graph
    link = stale
    for _ in range(DELTA_GENERATIONS):
        link = graph.get_json(link)["@odata.deltaLink"]
    with pytest.raises(outlook_pull.DeltaExpired):
        graph.get_json(stale)
    assert graph.get_json(link)["value"] == []


def test_a_pull_that_cannot_import_everything_still_keeps_the_newest_delta_link(ms, alice, monkeypatch):
    monkeypatch.setattr(outlook_pull, "MAX_IMPORTS_PER_PULL", 2)
    account, mailbox = outlook_personal(ms, alice)
    pull(account)
    for i in range(12):
        deliver(mailbox, subject=f"Burst {i}")
    created = [pull(account).created for _ in range(DELTA_GENERATIONS + 4)]
    # Every pull advanced its deltaLink, so none ever met an expired one.
    assert ms.count("delta", status=410) == 0
    assert sum(created) == 12 and Message.objects.filter(account=account).count() == 12
    assert ms.count("value") == 12


def test_a_client_delete_during_a_lost_cursor_is_deleted_after_the_reconcile_and_nothing_else(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    trashed = deliver(mailbox, subject="Binned while we were away")
    archived = deliver(mailbox, subject="Archived in Outlook")
    kept = deliver(mailbox, subject="Still in the Inbox")
    pull(account)
    # Deleted Items' own delta must not be what tells: its cursor is lost too.
    mailbox.move(trashed, "deleteditems")
    mailbox.move(archived, "archive")
    for folder in ("inbox", "archive", "deleteditems"):
        mailbox.expire_delta(folder)
    report = pull(account)
    assert report.deleted == 1
    assert not ProviderRef.objects.filter(key=trashed).exists()
    assert set(ProviderRef.objects.values_list("key", "folder")) == {(archived, "archive"), (kept, "inbox")}
    assert ms.count("delta", status=410) == 3
    # ids only: the listing asks for nothing but the id
    assert ms.list_queries and all(q["$select"] == "id" for q in ms.list_queries)


def test_a_reconcile_that_would_delete_too_much_pauses_the_account(ms, alice, settings):
    settings.MASS_DELETE_MIN_COUNT = 3
    settings.MASS_DELETE_MAX_SHARE = 0.2
    account, mailbox = outlook_personal(ms, alice)
    ids = [deliver(mailbox, subject=f"Lead {i}") for i in range(8)]
    pull(account)
    for graph_id in ids[:4]:
        mailbox.delete_forever(graph_id)
    mailbox.expire_delta("inbox")
    summary = pull_account(account.pk)
    assert summary.report.paused and summary.report.deleted == 0
    account.refresh_from_db()
    assert account.status == AccountStatus.PAUSED
    assert Message.objects.filter(account=account).count() == 8


def test_deletions_held_by_one_folders_reconcile_survive_the_next_folders_reconcile(ms, alice, settings):
    settings.MASS_DELETE_MIN_COUNT = 2
    settings.MASS_DELETE_MAX_SHARE = 0.2
    account, mailbox = outlook_personal(ms, alice)
    purged_for_good = [deliver(mailbox, subject=f"Lead {i}") for i in range(3)]
    for i in range(3):
        deliver(mailbox, subject=f"Kept {i}")
    filed = deliver(mailbox, subject="Filed, then gone from the store")
    sent = deliver(mailbox, folder="sentitems", subject="Sent, then gone from the store")
    pull(account)
    mailbox.move(filed, "archive")
    pull(account)
    mailbox.purge(sent)  # a bare 404: recorded, no effect
    for graph_id in purged_for_good:
        mailbox.delete_forever(graph_id)
    mailbox.purge(filed)
    mailbox.expire_delta("inbox")
    mailbox.expire_delta("archive")

    summary = pull_account(account.pk)

    # The Inbox's reconcile confirms three deletions and the guard holds them; the Archive's
    # reconcile that follows (a bare 404 recorded) must not drop what is held.
    assert summary.report.paused and summary.report.deleted == 0
    account.refresh_from_db()
    assert account.status == AccountStatus.PAUSED
    resume_mailbox(alice, account.pk)
    assert pull(account).deleted == 3
    assert not ProviderRef.objects.filter(key__in=purged_for_good).exists()
    assert ProviderRef.objects.filter(key__in=[filed, sent]).count() == 2
