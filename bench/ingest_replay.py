"""The store thread's work of an initial sync, replayed without IMAP: the bench mailbox's
messages (``bench/imap_initial_sync.py``'s mix) parsed first, then stored in the pull's groups
(newest first, 60 then 250 a group, one transaction each, as ``ImapPull._store_group`` does)
with ``store_parsed_messages``, on one thread and one connection, timed per part.

    .venv/bin/python bench/ingest_replay.py [--messages 10000] [--profile FILE] [--keep-db]

Reports the Python CPU of the storing thread (``time.thread_time``) and the PostgreSQL
backend's CPU (``/proc/<pid>/schedstat``, nanoseconds: precise where ``/proc/<pid>/stat``
counts 10 ms ticks), the backend's split by statement kind (each SELECT/UPDATE, each COPY by
table, and the commits, where deferred foreign-key checks run), per 10,000 messages. For
cutting the ingest's costs one at a time without Dovecot's and the parse workers' noise; the
whole pipeline is still measured by ``bench/imap_initial_sync.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/salesinbox_bench_imap")

from bench.imap_initial_sync import build_messages  # noqa: E402  (sets Django up)

# isort: split
from django.db import connection, transaction  # noqa: E402

from accounts.models import Company, Plan, Role, User  # noqa: E402
from inbox.models import AccountKind, MailAccount, Provider  # noqa: E402
from inbox.services import ingest  # noqa: E402
from inbox.types import RefData  # noqa: E402
from sync import store as sync_store  # noqa: E402
from sync.parse_pool import ParseInput, parse_one  # noqa: E402
from sync.store import commit_without_waiting_for_disk, look_up_by_index, store_parsed_messages  # noqa: E402

GROUP, FIRST_GROUP = 250, 60  # sync/providers/imap/pull.py BODY_BATCH_COUNT, FIRST_GROUP_COUNT


def backend_ns(pid: int) -> int:
    """Nanoseconds the PostgreSQL backend ``pid`` ran on a CPU (schedstat's first field)."""
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[0])


class BackendClock:
    """The backend's CPU per statement kind: every ``execute`` (through Django's execute
    wrapper) and every COPY (``inbox.services.ingest._copy``, wrapped)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.by_kind: dict[str, float] = defaultdict(float)

    @contextmanager
    def timed(self, kind: str) -> Iterator[None]:
        start = backend_ns(self.pid)
        try:
            yield
        finally:
            self.by_kind[kind] += (backend_ns(self.pid) - start) / 1e9

    def execute(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        words = sql.split(None, 3)
        kind = " ".join(words[:3]) if words[0].upper() == "UPDATE" else words[0].upper()
        if kind == "SELECT" and " FROM " in sql:
            kind = "SELECT " + sql.split(" FROM ", 1)[1].split()[0].strip('"')
        with self.timed(kind):
            return execute(sql, params, many, context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--profile", default="", help="write a cProfile summary of the stores here")
    parser.add_argument("--keep-db", action="store_true", help="leave the stored rows in the database")
    args = parser.parse_args()

    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    address = f"rep-{time.time_ns()}@bench.test"
    raws = build_messages(args.messages, address)
    t0 = time.perf_counter()
    parsed = [parse_one(ParseInput(raw, (address,))) for raw in raws]
    parse_seconds = time.perf_counter() - t0
    company = Company.objects.create(name=f"Bench replay {time.time_ns()}", plan=Plan.PREMIUM)
    rep = User.objects.create_user(address, company=company, role=Role.ADMIN)
    account = MailAccount.objects.create(
        company=company, kind=AccountKind.PERSONAL, owner=rep, provider=Provider.IMAP, address=address
    )
    # The pull's order: newest first (the highest UID), the first group small.
    items = [
        (p, RefData(key=f"imap:INBOX:1:{uid}", folder="INBOX", uidvalidity=1, uid=uid), raw)
        for uid, (p, raw) in reversed(list(enumerate(zip(parsed, raws, strict=True), start=1)))
    ]
    assert all(not isinstance(p, str) for p, _ref, _raw in items)
    groups = [items[:FIRST_GROUP]] + [
        items[start : start + GROUP] for start in range(FIRST_GROUP, len(items), GROUP)
    ]

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    clock = BackendClock(pid)
    copy = ingest._copy

    def timed_copy(cursor: Any, table: str, *rest: Any) -> None:
        with clock.timed(f"COPY {table}"):
            copy(cursor, table, *rest)

    ingest._copy = timed_copy  # type: ignore[assignment]
    profiler = cProfile.Profile(time.thread_time) if args.profile else None  # CPU, not wall
    backend0, thread0, wall0 = backend_ns(pid), time.thread_time(), time.perf_counter()
    with connection.execute_wrapper(clock.execute):
        for group in groups:
            if profiler is not None:
                profiler.enable()
            atomic = transaction.atomic()
            atomic.__enter__()
            commit_without_waiting_for_disk()
            look_up_by_index()
            outcomes = store_parsed_messages(account, group)  # type: ignore[arg-type]
            if profiler is not None:
                profiler.disable()
            with clock.timed("COMMIT"):
                atomic.__exit__(None, None, None)
            assert all(o == sync_store.StoreOutcome.CREATED for o in outcomes), outcomes
    wall = time.perf_counter() - wall0
    python = time.thread_time() - thread0
    backend = (backend_ns(pid) - backend0) / 1e9
    ingest._copy = copy  # type: ignore[assignment]

    per = 10_000 / args.messages
    print(
        f"{args.messages:,} messages in {len(groups)} groups, load {os.getloadavg()[0]:.1f}; "
        f"parse (inline, not timed below) {parse_seconds:.2f} s"
    )
    print(
        f"  per 10,000: wall {wall * per:.2f} s, storing thread's Python CPU {python * per:.2f} s, "
        f"PostgreSQL backend CPU {backend * per:.2f} s"
    )
    for kind, seconds in sorted(clock.by_kind.items(), key=lambda kv: -kv[1]):
        print(f"    {kind:40s} {seconds * per:6.3f} s")
    print(f"  account {account.pk}: {account.conversations.count():,} conversations")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(
            os.environ.get("SORT", "tottime")
        ).print_stats(45)
        Path(args.profile).write_text(out.getvalue())
    if not args.keep_db:
        company.delete()


if __name__ == "__main__":
    main()
