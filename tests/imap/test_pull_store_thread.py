"""A first sync stores each fetched group on a store thread with its own database connection
while the pull reads the next group (sync/store.py ``BackgroundStore``): what is stored, the
counts, the progress bar and the errors are those of a pull that stores in its own thread.

These tests commit for real (``transaction=True``): under the usual test transaction the
pull stores in its own thread — a second connection could not see that transaction's rows.
Groups are made small so a few dozen messages span several groups and windows. Real Dovecot,
through the fault proxy where a test needs to see or bend the protocol."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.db.backends.signals import connection_created

from inbox.models import MailAccount, Message, ProviderRef
from sync import parse_pool
from sync.models import FaultState, FolderState, QuarantinedMessage
from sync.providers.imap import pull as imap_pull
from sync.pull import PullSummary, pull_account
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot
from tests.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.dovecot]

FIRST = 3  # the newest, stored first, alone
GROUP = 5
WINDOW = 8


@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap_pull, "FIRST_GROUP_COUNT", FIRST)
    monkeypatch.setattr(imap_pull, "BODY_BATCH_COUNT", GROUP)
    monkeypatch.setattr(imap_pull, "FIRST_WINDOW", WINDOW)
    monkeypatch.setattr(imap_pull, "MAX_WINDOW", WINDOW)


@pytest.fixture
def faulty(dovecot_faulty: Dovecot, acme, alice, bob, small_groups) -> Iterator[ImapSetup]:  # type: ignore[no-untyped-def]
    setup = make_setup(dovecot_faulty, "personal", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


def _deliver_leads(setup: ImapSetup, count: int, **overrides: dict[str, str]) -> None:
    """Lead 1 … Lead n, oldest first (UIDs 1..n, an hour apart, all within the range).
    ``overrides``: extra fields for some of them, by subject."""
    start = datetime.now().astimezone() - timedelta(hours=count + 1)
    for n in range(1, count + 1):
        subject = f"Lead {n}"
        fields = {"sender": f"buyer{n}@client.test", **overrides.get(subject, {})}
        setup.deliver(subject=subject, date=start + timedelta(hours=n), **fields)


@pytest.fixture(autouse=True)
def store_backends() -> Iterator[list[int]]:
    """The PostgreSQL backend pids of the connections the store thread opened."""
    pids: list[int] = []

    def opened(sender: object, connection: Any, **kwargs: object) -> None:
        if threading.current_thread().name.startswith("pull-store"):
            pids.append(connection.connection.info.backend_pid)

    connection_created.connect(opened)
    yield pids
    connection_created.disconnect(opened)


def _store_backends_open(pids: list[int]) -> int:
    """How many of the store thread's connections are still open. Only those: the suite runs
    other servers (Celery workers, a live server) on the same test database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids])
        return int(cursor.fetchone()[0])


def _subjects_by_commit(account: MailAccount) -> list[list[str]]:
    """The account's messages grouped by the transaction that wrote them, in commit order
    (PostgreSQL's xmin: a group's store is one transaction, started after the last committed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xmin::text::bigint, subject FROM inbox_message WHERE account_id = %s",
            [account.pk],
        )
        rows = cursor.fetchall()
    commits: dict[int, list[str]] = {}
    for xid, subject in rows:
        commits.setdefault(xid, []).append(subject)
    return [sorted(commits[xid], key=lambda s: -int(s.split()[-1])) for xid in sorted(commits)]


Outcome = list[PullSummary | BaseException]


def _in_thread(target: Callable[[], PullSummary]) -> tuple[threading.Thread, Outcome]:
    """Run a pull in a thread of its own (its own connection, closed when it ends)."""
    outcome: Outcome = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:
            outcome.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="test-pull")
    thread.start()
    return thread, outcome


def test_a_first_sync_stores_on_the_store_thread_newest_first_with_exact_counts_and_progress(
    faulty: ImapSetup, connection_threads: list[str], store_backends: list[int]
):
    leads = 3 * WINDOW + 2  # four windows, nine groups
    _deliver_leads(faulty, leads)
    account = faulty.account
    # Watched from another connection while the pull runs: the bar must never count a message
    # before it is committed, nor lag behind one (every UID here is imported).
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        try:
            while not stop.is_set():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT initial_sync_done, "
                        "(SELECT count(*) FROM inbox_message WHERE account_id = %s) "
                        "FROM inbox_mailaccount WHERE id = %s",
                        [account.pk, account.pk],
                    )
                    seen.append(cursor.fetchone())
        finally:
            connections.close_all()

    watcher = threading.Thread(target=watch, name="test-watch")
    watcher.start()
    try:
        summary = faulty.pull()
    finally:
        stop.set()
        watcher.join()

    assert summary.report is not None
    assert (summary.report.created, summary.report.duplicates, summary.report.quarantined) == (leads, 0, 0)
    assert [done for done, stored in seen if done != stored] == []
    assert (account.initial_sync_done, account.initial_sync_total) == (leads, leads)
    assert account.initial_sync_finished_at is not None
    # Stored on the store thread, one commit per group, newest first: the first commit is the
    # newest FIRST alone (they show at once), then each window's groups from the top down.
    assert any(name.startswith("pull-store") for name in connection_threads)
    assert all(name.startswith("pull-store") for name in connection_threads if name != "test-watch")
    commits = _subjects_by_commit(account)
    assert commits[0] == [f"Lead {n}" for n in range(leads, leads - FIRST, -1)]
    order = [int(subject.split()[-1]) for commit in commits for subject in commit]
    assert order == list(range(leads, 0, -1))  # every message once, newest first
    assert max(len(commit) for commit in commits) <= GROUP
    assert FolderState.objects.get(account=account, folder="INBOX").uidnext == leads + 1
    # The store thread's connection was closed when the pull ended.
    assert store_backends  # the store thread had a connection of its own
    wait_for(
        lambda: _store_backends_open(store_backends) == 0,
        "the store thread's connection to close",
        timeout=30,
    )
    again = faulty.pull()
    assert again.report is not None and again.report.created == 0


# The threads alive at each fork of this process while ``_FORKS["watching"]``: a hook cannot
# be unregistered, so it is registered once and only records while a test watches.
_FORKS: dict[str, Any] = {"watching": False, "threads": []}
os.register_at_fork(
    before=lambda: (
        _FORKS["threads"].append([t.name for t in threading.enumerate()]) if _FORKS["watching"] else None
    )
)


def test_the_parse_workers_are_forked_before_the_store_thread_starts(
    faulty: ImapSetup, monkeypatch: pytest.MonkeyPatch
):
    # A fork copies the locks other threads hold into the child, held for ever: the parse
    # workers must be copies of a pull with one thread, never of one whose store thread runs.
    monkeypatch.setattr(parse_pool, "POOL_MIN_GROUP", GROUP)  # these small groups use the pool
    parse_pool.shutdown()
    leads = 2 * WINDOW
    _deliver_leads(faulty, leads)
    _FORKS["threads"] = []
    _FORKS["watching"] = True
    try:
        summary = faulty.pull()
    finally:
        _FORKS["watching"] = False

    assert summary.report is not None and summary.report.created == leads
    assert parse_pool._pool is not None  # the groups were parsed by the workers
    assert len(_FORKS["threads"]) == parse_pool.WORKERS
    assert [names for names in _FORKS["threads"] if any(n.startswith("pull-store") for n in names)] == []
    commits = _subjects_by_commit(faulty.account)
    assert [int(subject.split()[-1]) for commit in commits for subject in commit] == list(range(leads, 0, -1))


def test_a_group_postgres_refuses_is_stored_one_by_one_and_only_the_bad_message_is_quarantined(
    faulty: ImapSetup, connection_threads: list[str], ingests: dict[str, list[int]], store_backends: list[int]
):
    leads = 2 * WINDOW
    # A To address longer than the column holding a conversation's participants: PostgreSQL
    # refuses that row, in the bulk COPY and alone.
    too_long = "x" * 330 + "@client.test"
    _deliver_leads(faulty, leads, **{"Lead 9": {"to": f"{faulty.account.address}, {too_long}"}})

    summary = faulty.pull()

    assert summary.report is not None
    assert (summary.report.created, summary.report.quarantined) == (leads - 1, 1)
    stored = set(Message.objects.filter(account=faulty.account).values_list("subject", flat=True))
    assert stored == {f"Lead {n}" for n in range(1, leads + 1)} - {"Lead 9"}
    (bad,) = QuarantinedMessage.objects.filter(account=faulty.account)
    uidvalidity = FolderState.objects.get(account=faulty.account, folder="INBOX").uidvalidity
    assert bad.provider_key == f"imap:INBOX:{uidvalidity}:9" and "could not be stored" in bad.reason
    # Its group (Lead 13 … Lead 9) went one by one after its bulk ingest failed; every other
    # group, before and after it, in one bulk ingest.
    assert ingests == {"bulk": [FIRST, GROUP, GROUP, WINDOW - GROUP], "single": [1] * GROUP}
    assert any(name.startswith("pull-store") for name in connection_threads)
    faulty.account.refresh_from_db()
    assert (faulty.account.initial_sync_done, faulty.account.initial_sync_total) == (leads, leads)
    assert store_backends  # the store thread had a connection of its own
    wait_for(
        lambda: _store_backends_open(store_backends) == 0,
        "the store thread's connection to close",
        timeout=30,
    )


def test_a_store_error_reaches_the_pull_and_no_cursor_is_saved_past_the_group_that_failed(
    faulty: ImapSetup, monkeypatch: pytest.MonkeyPatch, store_backends: list[int]
):
    leads = WINDOW
    _deliver_leads(faulty, leads)
    store = imap_pull.store_raw_messages
    calls: list[int] = []

    def failing_second_group(account, items, *, parsing=None):  # type: ignore[no-untyped-def]
        calls.append(len(items))
        if len(calls) == 2:
            raise OperationalError("the database went away")
        return store(account, items, parsing=parsing)

    monkeypatch.setattr(imap_pull, "store_raw_messages", failing_second_group)

    with pytest.raises(OperationalError, match="the database went away"):
        pull_account(faulty.account.pk)

    # The first group committed; the second did not, and neither did anything after it.
    subjects = set(Message.objects.filter(account=faulty.account).values_list("subject", flat=True))
    assert subjects == {f"Lead {n}" for n in range(leads, leads - FIRST, -1)}
    assert not FolderState.objects.filter(account=faulty.account, folder="INBOX").exists()
    account = MailAccount.objects.get(pk=faulty.account.pk)
    assert account.initial_sync_finished_at is None and account.initial_sync_done == FIRST
    assert store_backends  # the store thread had a connection of its own
    wait_for(
        lambda: _store_backends_open(store_backends) == 0,
        "the store thread's connection to close",
        timeout=30,
    )

    monkeypatch.setattr(imap_pull, "store_raw_messages", store)
    resumed = faulty.pull()

    assert resumed.report is not None
    assert (resumed.report.created, resumed.report.duplicates) == (leads - FIRST, FIRST)
    assert Message.objects.filter(account=faulty.account).count() == leads
    assert FolderState.objects.get(account=faulty.account, folder="INBOX").uidnext == leads + 1


def test_the_server_hanging_up_while_a_group_is_being_stored_loses_and_doubles_nothing(
    faulty: ImapSetup, store_backends: list[int]
):
    leads = WINDOW
    _deliver_leads(faulty, leads)
    # Dovecot hangs up (BYE) when asked for a message whose file it cannot open: Lead 2, in the
    # second group, read while the first group is being stored.
    maildir = faulty.user.server.maildir(faulty.user)
    files = [path for sub in ("cur", "new") for path in (maildir / sub).iterdir()]
    (broken,) = [path for path in files if re.search(rb"Subject: Lead 2\r?\n", path.read_bytes())]
    proxy = faulty.user.server.proxy
    assert proxy is not None
    logins = len([c for c in proxy.commands if c.split(b" ")[1:2] == [b"LOGIN"]])
    broken.chmod(0o000)
    try:
        # The first group's store cannot write its messages until this transaction ends.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE inbox_message IN SHARE MODE")
            thread, outcome = _in_thread(lambda: pull_account(faulty.account.pk))
            wait_for(
                lambda: len([c for c in proxy.commands if c.split(b" ")[1:2] == [b"LOGIN"]]) >= logins + 2,
                "the pull to log in again after the server hung up",
            )
            assert not Message.objects.filter(account=faulty.account).exists()  # still being stored
        thread.join(timeout=120)
    finally:
        broken.chmod(0o600)

    assert not thread.is_alive()
    (summary,) = outcome
    assert isinstance(summary, PullSummary) and not summary.error, summary
    assert summary.report is not None
    assert (summary.report.created, summary.report.duplicates) == (leads - 1, 0)
    assert any("reconnected" in note for note in summary.report.notes)
    subjects = sorted(Message.objects.filter(account=faulty.account).values_list("subject", flat=True))
    assert subjects == sorted(f"Lead {n}" for n in range(1, leads + 1) if n != 2)
    assert ProviderRef.objects.filter(account=faulty.account).count() == leads - 1
    (fault,) = QuarantinedMessage.objects.filter(account=faulty.account)
    assert fault.state == FaultState.RETRYING and fault.provider_key.endswith(":2")
    account = MailAccount.objects.get(pk=faulty.account.pk)
    assert (account.initial_sync_done, account.initial_sync_total) == (leads, leads)
    assert FolderState.objects.get(account=faulty.account, folder="INBOX").uidnext == leads + 1
    assert store_backends  # the store thread had a connection of its own
    wait_for(
        lambda: _store_backends_open(store_backends) == 0,
        "the store thread's connection to close",
        timeout=30,
    )


def test_every_group_of_a_first_sync_into_emptied_tables_is_stored_reading_by_index(
    faulty: ImapSetup, monkeypatch: pytest.MonkeyPatch
):
    # The tables as a mailbox deleted earlier leaves them: emptied and vacuumed (0 rows in
    # the statistics), the state in which the foreign-key checks were planned as scans.
    with connection.cursor() as cursor:
        for table in ("inbox_conversation", "inbox_message", "inbox_participant", "inbox_providerref"):
            cursor.execute(f'VACUUM "{table}"')
    leads = 2 * WINDOW
    _deliver_leads(faulty, leads)
    settings: list[str] = []
    store = imap_pull.store_raw_messages

    def store_and_look(*args, **kwargs):  # type: ignore[no-untyped-def]
        with connection.cursor() as cursor:  # the store thread's connection, in the group's transaction
            cursor.execute("SHOW enable_seqscan")
            settings.append(cursor.fetchone()[0])
        return store(*args, **kwargs)

    monkeypatch.setattr(imap_pull, "store_raw_messages", store_and_look)
    summary = faulty.pull()

    assert summary.report is not None and summary.report.created == leads
    assert len(settings) >= leads // GROUP
    assert set(settings) == {"off"}
    # Outside a group's transaction the connection plans as configured.
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"
