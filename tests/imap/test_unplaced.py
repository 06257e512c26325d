"""Deleted in the app only on evidence: a message that left its IMAP folder is deleted at once
when it is found in Trash, and otherwise only once complete checks of every folder found no
live copy on two pulls in a row. Every test here makes the old guess ("not found by a header
search in the folders LIST shows" = deleted) wrong on a real Dovecot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import escape

from inbox.models import Message, ProviderRef, Tombstone
from sync.models import UnplacedMessage
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot, make_message

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def _ids(setup: ImapSetup) -> set[str]:
    return set(Message.objects.filter(account=setup.account).values_list("message_id", flat=True))


def _row(setup: ImapSetup) -> UnplacedMessage:
    return UnplacedMessage.objects.get(account=setup.account)


@pytest.fixture
def rep(any_dovecot: Dovecot, acme, alice, bob) -> Iterator[ImapSetup]:  # type: ignore[no-untyped-def]
    """Alice's mailbox on the server with CONDSTORE/QRESYNC and on the one without."""
    setup = make_setup(any_dovecot, "personal", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


@pytest.fixture
def faulty(dovecot_faulty: Dovecot, acme, alice, bob) -> Iterator[ImapSetup]:  # type: ignore[no-untyped-def]
    setup = make_setup(dovecot_faulty, "personal", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


# --- gone from every folder: two complete checks -------------------------------------------------
def test_expunged_from_every_folder_is_deleted_on_the_second_complete_check_once(rep: ImapSetup):
    gone = rep.deliver(subject="Expunged for good")
    kept = rep.deliver(subject="Still here")
    rep.pull()
    rep.expunge(gone, "inbox")

    first = rep.pull()

    assert first.report.deleted == 0 and _ids(rep) == {gone, kept}
    row = _row(rep)
    assert (row.message_id_header, row.complete_streak, row.last_check_complete) == (gone, 1, True)
    assert "no live copy found in any folder" in row.reason

    second = rep.pull()
    third = rep.pull()

    assert (second.report.deleted, third.report.deleted) == (1, 0)
    assert _ids(rep) == {kept}
    assert Tombstone.objects.filter(account=rep.account, message_id=gone).exists()
    assert not UnplacedMessage.objects.filter(account=rep.account).exists()


def test_moved_to_trash_is_deleted_at_once(rep: ImapSetup):
    trashed = rep.deliver(subject="Thrown away")
    rep.pull()
    rep.move(trashed, "inbox", "trash")

    assert rep.pull().report.deleted == 1 and _ids(rep) == set()
    assert not UnplacedMessage.objects.filter(account=rep.account).exists()


def test_the_second_check_counts_only_after_the_confirmation_delay(imap: ImapSetup, settings):  # type: ignore[no-untyped-def]
    settings.IMAP_DELETE_CONFIRM_DELAY_SECONDS = 3600
    gone = imap.deliver(subject="Wait an hour")
    imap.pull()
    imap.expunge(gone, "inbox")

    assert imap.pull().report.deleted == 0
    assert imap.pull().report.deleted == 0  # two complete checks, but within the hour
    row = _row(imap)
    assert row.complete_streak == 2 and "confirmation delay" in row.reason

    # The hour passes (moved back in the database instead of slept through).
    UnplacedMessage.objects.filter(pk=row.pk).update(streak_started_at=timezone.now() - timedelta(hours=2))
    assert imap.pull().report.deleted == 1 and _ids(imap) == set()


def test_found_again_after_one_miss_is_kept_and_the_streak_starts_over(imap: ImapSetup):
    lost = imap.deliver(subject="Restored from a backup")
    imap.pull()
    imap.expunge(lost, "inbox")
    imap.pull()
    assert _row(imap).complete_streak == 1

    _, raw = make_message(subject="Restored from a backup", message_id=lost)
    imap.append("archive", raw)  # the admin restores it into Archive
    summary = imap.pull()

    assert summary.report.deleted == 0 and _ids(imap) == {lost}
    assert ProviderRef.objects.get(account=imap.account).folder == imap.folder("archive")
    assert not UnplacedMessage.objects.filter(account=imap.account).exists()


# --- \Deleted-flagged copies -----------------------------------------------------------------------
def test_a_copy_only_flagged_deleted_is_not_deleted_until_it_is_expunged(rep: ImapSetup):
    flagged = rep.deliver(subject="Marked as deleted")
    rep.pull()
    client = rep.mua()
    uid = rep.uid_of(client, flagged, "inbox")
    client.delete_messages([uid])  # \Deleted, no EXPUNGE (Thunderbird's "mark as deleted")

    pulls = [rep.pull() for _ in range(3)]

    assert [p.report.deleted for p in pulls] == [0, 0, 0] and _ids(rep) == {flagged}
    row = _row(rep)
    assert "flagged \\Deleted" in row.reason and row.complete_streak == 0

    rep.mua().select_folder("INBOX")
    rep.mua().expunge()
    assert rep.pull().report.deleted == 0  # expunged: the first complete check
    assert rep.pull().report.deleted == 1 and _ids(rep) == set()


def test_unflagging_a_deleted_copy_puts_it_back_in_place(imap: ImapSetup):
    kept = imap.deliver(subject="Changed my mind")
    imap.pull()
    client = imap.mua()
    uid = imap.uid_of(client, kept, "inbox")
    client.delete_messages([uid])
    imap.pull()
    assert UnplacedMessage.objects.filter(account=imap.account).exists()

    client.select_folder("INBOX")
    client.remove_flags([uid], [b"\\Deleted"])
    imap.pull()

    assert _ids(imap) == {kept} and not UnplacedMessage.objects.filter(account=imap.account).exists()
    assert ProviderRef.objects.get(account=imap.account).uid == uid


def test_a_new_message_flagged_deleted_is_not_imported_until_unflagged(rep: ImapSetup):
    rep.deliver(subject="Leftover of a move", flags=(b"\\Deleted",))
    rep.deliver(subject="Normal")
    rep.pull()
    assert {m.subject for m in Message.objects.filter(account=rep.account)} == {"Normal"}

    client = rep.mua()
    client.select_folder("INBOX")
    client.remove_flags(client.search("DELETED"), [b"\\Deleted"])
    summary = rep.pull()

    assert summary.report.created == 1
    assert {m.subject for m in Message.objects.filter(account=rep.account)} == {
        "Normal",
        "Leftover of a move",
    }


# --- other namespaces ------------------------------------------------------------------------------
class ShelfDovecot(Dovecot):
    """The standard Dovecot plus a second personal namespace "Shelf/" that ``LIST "" "*"``
    does not show (``list = no``) but NAMESPACE names — where a user's other client may file mail."""

    def _config(self) -> str:
        return (
            super()._config()
            + f"""namespace shelf {{
  prefix = Shelf/
  separator = /
  list = no
  location = maildir:{self.root}/mail/%u/Shelf
}}
"""
        )


@pytest.fixture(scope="module")
def shelf_dovecot() -> Iterator[Dovecot]:
    server = ShelfDovecot("standard").start()
    yield server
    server.cleanup()


def test_moved_into_a_namespace_that_list_does_not_show_is_not_deleted(shelf_dovecot, acme, alice, bob):  # type: ignore[no-untyped-def]
    setup = make_setup(shelf_dovecot, "personal", acme=acme, alice=alice, bob=bob)
    try:
        filed = setup.deliver(subject="Filed on the shelf")
        with setup.client() as client:
            client.create_folder("Shelf/Deals")
            assert "Shelf/Deals" not in [name for _f, _d, name in client.list_folders()]
        setup.pull()
        setup.move(filed, "inbox", "Shelf/Deals")

        pulls = [setup.pull() for _ in range(3)]

        assert [p.report.deleted for p in pulls] == [0, 0, 0] and _ids(setup) == {filed}
        assert ProviderRef.objects.get(account=setup.account).folder == "Shelf/Deals"
        assert not UnplacedMessage.objects.filter(account=setup.account).exists()
    finally:
        setup.close()


def test_a_message_moved_during_the_check_is_not_deleted(dovecot: Dovecot, acme, alice, bob):  # type: ignore[no-untyped-def]
    from inbox.models import MailAccount
    from tests.chaos.harness import ImapProxy

    proxy = ImapProxy(dovecot.port).start()
    setup = make_setup(dovecot, "personal", acme=acme, alice=alice, bob=bob)
    try:
        config = {**setup.account.config, "port": proxy.port}
        MailAccount.objects.filter(pk=setup.account.pk).update(config=config)
        setup.account.refresh_from_db()
        moving = setup.deliver(subject="Filed twice")
        with setup.client() as client:
            client.create_folder("Zeta")
        setup.pull()
        setup.move(moving, "inbox", "Zeta")

        # While the check looks through the folders, the user drags the message from a folder
        # not searched yet (Zeta) into one already searched (Archive): found nowhere this time.
        proxy.before(rb'^\S+ EXAMINE "?Zeta"?', lambda _line: setup.move(moving, "Zeta", "archive"))
        during = setup.pull()
        assert _row(setup).complete_streak == 1  # a complete check that missed it: no proof yet
        after = setup.pull()

        assert (during.report.deleted, after.report.deleted) == (0, 0) and _ids(setup) == {moving}
        assert ProviderRef.objects.get(account=setup.account).folder == setup.folder("archive")
        assert not UnplacedMessage.objects.filter(account=setup.account).exists()
    finally:
        setup.close()
        proxy.stop()


# --- a server that answers wrong (the fault proxy) --------------------------------------------------
def test_a_header_search_that_finds_nothing_deletes_nothing_on_that_pull(faulty: ImapSetup):
    filed = faulty.deliver(subject="Filed away")
    with faulty.client() as client:
        client.create_folder("Projects")
    faulty.pull()  # the folder list, Projects included, as the baseline
    faulty.move(filed, "inbox", "Projects")

    fault = faulty.user.server.proxy.empty_header_search(times=None)  # a lagging index
    missed = faulty.pull()
    fault.off()

    assert fault.hits and missed.report.deleted == 0 and _ids(faulty) == {filed}
    assert _row(faulty).complete_streak == 1  # one miss is no proof
    found = faulty.pull()
    assert found.report.deleted == 0 and _ids(faulty) == {filed}
    assert ProviderRef.objects.get(account=faulty.account).folder == "Projects"
    assert not UnplacedMessage.objects.filter(account=faulty.account).exists()


def test_a_folder_hidden_from_list_for_one_pull_deletes_nothing(faulty: ImapSetup):
    filed = faulty.deliver(subject="In a folder LIST forgets")
    with faulty.client() as client:
        client.create_folder("Projects")
    faulty.pull()
    faulty.move(filed, "inbox", "Projects")
    proxy = faulty.user.server.proxy

    hide = proxy.hide_folder("Projects")
    search = proxy.empty_header_search(times=None)  # and the search misses it too
    pulls = [faulty.pull()]
    hide.off()
    pulls.append(faulty.pull())  # LIST changed back: still incomplete
    search.off()
    pulls.append(faulty.pull())

    assert [p.report.deleted for p in pulls] == [0, 0, 0] and _ids(faulty) == {filed}
    assert ProviderRef.objects.get(account=faulty.account).folder == "Projects"


def test_the_list_change_makes_the_check_incomplete(faulty: ImapSetup):
    gone = faulty.deliver(subject="Really gone")
    faulty.deliver(subject="Other")
    with faulty.client() as client:
        client.create_folder("Projects")
    faulty.pull()
    faulty.expunge(gone, "inbox")
    hide = faulty.user.server.proxy.hide_folder("Projects")

    faulty.pull()

    hide.off()
    row = _row(faulty)
    assert not row.last_check_complete and row.complete_streak == 0
    assert "the folder list changed since it was last seen" in row.reason
    assert faulty.pull().report.deleted == 0  # the list changed back: incomplete again
    assert faulty.pull().report.deleted == 0  # first complete check
    assert faulty.pull().report.deleted == 1  # second: deleted


def test_badcharset_falls_back_and_an_unsearchable_message_id_is_not_deleted(faulty: ImapSetup):
    accented = "<déjà-vu@client.test>"
    _, raw = make_message(subject="Accented id", message_id=accented)
    faulty.append("inbox", raw)
    plain = faulty.deliver(subject="Plain id")
    faulty.deliver("archive", subject="Something to search through")
    faulty.pull()
    with faulty.client() as client:  # both are deleted for good in another client
        client.select_folder("INBOX")
        client.delete_messages(client.search("ALL"))
        client.expunge()
    assert plain and faulty.ids("inbox") == []
    refuse = faulty.user.server.proxy.refuse_charset(times=None)  # US-ASCII-only SEARCH

    pulls = [faulty.pull() for _ in range(3)]

    assert refuse.hits
    assert [p.report.deleted for p in pulls] == [0, 1, 0]  # the ASCII one: two complete checks
    assert {m.subject for m in Message.objects.filter(account=faulty.account)} == {"Accented id"}
    row = _row(faulty)
    assert "US-ASCII" in row.reason and not row.last_check_complete


def test_a_non_ascii_message_id_is_found_where_it_was_moved(imap: ImapSetup):
    accented = "<grüße-aus-köln@client.test>"
    _, raw = make_message(subject="Grüße", message_id=accented)
    imap.append("inbox", raw)
    imap.deliver("archive", subject="Already archived")
    with imap.client() as client:
        client.create_folder("Köln")
    imap.pull()
    imap.move(accented, "inbox", "Köln")

    pulls = [imap.pull() for _ in range(3)]

    assert [p.report.deleted for p in pulls] == [0, 0, 0]
    assert ProviderRef.objects.get(account=imap.account, message__message_id=accented).folder == "Köln"
    assert not UnplacedMessage.objects.filter(account=imap.account).exists()


# --- the status page ---------------------------------------------------------------------------------
def test_status_page_states_the_rule_and_lists_unplaced_messages(imap: ImapSetup, client, bob):  # type: ignore[no-untyped-def]
    gone = imap.deliver(subject="Where did it go")
    imap.pull()
    imap.expunge(gone, "inbox")
    imap.pull()

    client.force_login(imap.actor)
    page = client.get(f"/settings/email-sync/accounts/{imap.account.pk}/status/").content.decode()

    assert 'data-rule="imap-deletion"' in page and "two syncs in a row" in page
    assert f'data-unplaced="{escape(gone)}" data-complete="yes" data-streak="1"' in page
    assert "Where did it go" in page
    client.force_login(bob)  # not his mailbox
    assert client.get(f"/settings/email-sync/accounts/{imap.account.pk}/status/").status_code == 404


def test_a_pull_that_changed_nothing_sends_no_list(faulty: ImapSetup):
    """The placement check costs round trips only when something left a folder: a quiet
    mailbox is still one EXAMINE per folder."""
    faulty.deliver(subject="Quiet")
    faulty.pull()
    proxy = faulty.user.server.proxy
    before = len(proxy.commands)

    faulty.pull()

    verbs = [command.split(b" ")[1].upper() for command in proxy.commands[before:] if b" " in command]
    assert b"LIST" not in verbs and b"NAMESPACE" not in verbs
    assert verbs.count(b"EXAMINE") == 4  # INBOX, Sent, Archive, Trash
