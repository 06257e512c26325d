"""The first pull of a big IMAP mailbox reads the newest messages first, window by window
from the top of the folder, without a SEARCH of the whole folder before anything shows: the
newest conversations are in the Inbox after the first window, the rest fills in behind, every
message is imported once, and an interrupted first sync resumes where it stopped.

The windows are made small here (4 messages) so a 10-message mailbox spans three of them;
the faults come from the fault proxy in front of a real Dovecot (tests/imap/servers/proxy.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from inbox import selectors
from inbox.models import MailAccount, Message, ProviderRef
from sync.models import FolderState
from sync.providers.imap import pull as imap_pull
from sync.pull import pull_account
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]

WINDOW = 4
LEADS = 10


@pytest.fixture
def faulty(dovecot_faulty: Dovecot, acme, alice, bob, monkeypatch) -> Iterator[ImapSetup]:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(imap_pull, "FIRST_WINDOW", WINDOW)
    monkeypatch.setattr(imap_pull, "MAX_WINDOW", WINDOW)
    monkeypatch.setattr(imap_pull, "FIRST_GROUP_COUNT", 2)
    setup = make_setup(dovecot_faulty, "personal", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


def _deliver_leads(setup: ImapSetup) -> None:
    """Lead 1 … Lead 10, oldest first (UIDs 1..10, sent one hour apart)."""
    start = datetime.now().astimezone() - timedelta(hours=LEADS + 1)
    for n in range(1, LEADS + 1):
        setup.deliver(subject=f"Lead {n}", sender=f"buyer{n}@client.test", date=start + timedelta(hours=n))


def _inbox_subjects(setup: ImapSetup) -> list[str]:
    page = selectors.folder_page(setup.actor, "inbox", limit=50)
    return [conversation.subject for conversation in page.conversations]


def _searches(setup: ImapSetup, since: int) -> list[bytes]:
    proxy = setup.user.server.proxy
    assert proxy is not None
    return [c for c in proxy.commands[since:] if re.match(rb"\S+ UID SEARCH ", c, re.IGNORECASE)]


def test_first_sync_searches_the_newest_window_first_and_never_the_whole_folder(faulty: ImapSetup):
    _deliver_leads(faulty)
    proxy = faulty.user.server.proxy
    assert proxy is not None
    before = len(proxy.commands)

    summary = faulty.pull()

    inbox_searches = [c for c in _searches(faulty, before) if b" SINCE " in c.upper()]
    windows = [re.search(rb"UID SEARCH (\d+:\d+) SINCE", c, re.IGNORECASE) for c in inbox_searches]
    # INBOX from the top down (7:10, 3:6, 1:2); Sent is empty: no search there at all.
    assert [w.group(1) for w in windows if w] == [b"7:10", b"3:6", b"1:2"]
    assert len(windows) == len(inbox_searches)  # every range search names its window
    assert summary.report is not None and summary.report.created == LEADS
    assert _inbox_subjects(faulty) == [f"Lead {n}" for n in range(LEADS, 0, -1)]


def test_the_newest_window_is_in_the_inbox_before_the_rest_is_read_and_a_resume_imports_each_once(
    faulty: ImapSetup,
):
    _deliver_leads(faulty)
    proxy = faulty.user.server.proxy
    assert proxy is not None
    # The second window's search is refused: the first pull stops after the first window.
    refusal = proxy.refuse_search(b" 3:6 SINCE ")

    stopped = pull_account(faulty.account.pk)

    assert stopped.error and refusal.hits == 1
    assert _inbox_subjects(faulty) == ["Lead 10", "Lead 9", "Lead 8", "Lead 7"]
    # No cursor for a folder not read to the end: the next pull is a first read again.
    assert not FolderState.objects.filter(account=faulty.account, folder="INBOX").exists()
    account = MailAccount.objects.get(pk=faulty.account.pk)
    assert account.initial_sync_finished_at is None
    assert (account.initial_sync_done, account.initial_sync_total) == (WINDOW, LEADS)

    refusal.off()
    resumed = faulty.pull()

    assert resumed.report is not None
    assert (resumed.report.created, resumed.report.duplicates) == (LEADS - WINDOW, WINDOW)
    assert _inbox_subjects(faulty) == [f"Lead {n}" for n in range(LEADS, 0, -1)]
    assert Message.objects.filter(account=faulty.account).count() == LEADS
    uids = sorted(ProviderRef.objects.filter(account=faulty.account).values_list("uid", flat=True))
    assert uids == list(range(1, LEADS + 1))
    account = MailAccount.objects.get(pk=faulty.account.pk)
    assert (account.initial_sync_done, account.initial_sync_total) == (LEADS, LEADS)
    assert account.initial_sync_finished_at is not None
    assert FolderState.objects.get(account=faulty.account, folder="INBOX").uidnext == LEADS + 1


def test_a_pull_with_new_and_moved_mail_selects_each_folder_once(faulty: ImapSetup):
    """INBOX is scanned last and imported while still selected; Archive's arrivals are read
    while it is selected for its scan: no second EXAMINE of a (possibly huge) folder."""
    _deliver_leads(faulty)
    faulty.pull()
    moved = faulty.ids("inbox")[:2]
    for mid in moved:
        faulty.move(mid, "inbox", "archive")
    faulty.deliver(subject="Lead 11", sender="buyer11@client.test")
    proxy = faulty.user.server.proxy
    assert proxy is not None
    before = len(proxy.commands)

    summary = faulty.pull()

    selects = [c.split(b" ", 2)[2] for c in proxy.commands[before:] if re.match(rb"\S+ (EXAMINE|SELECT) ", c)]
    assert sorted(selects) == sorted(set(selects)) and len(selects) == 4, selects
    assert summary.report is not None and summary.report.created == 1 and summary.report.deleted == 0
    archived = ProviderRef.objects.filter(account=faulty.account, message__message_id__in=moved)
    assert {ref.folder for ref in archived} == {faulty.folder("archive")}
