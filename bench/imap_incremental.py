"""Incremental IMAP sync of a big mailbox: ``pull_account`` with no change and with 100
changes (50 new messages delivered, 50 moved to Archive by another mail client), wall time
and the number of IMAP commands, at 10,000 and 100,000 messages (is it independent of size?).

    .venv/bin/python bench/imap_incremental.py [--sizes 10000 100000] [--profile out.html]
        [--rounds 3] [--cprofile docs/bench/profile-incremental] [--stores maildir sdbox]

``--rounds`` repeats the 100 changes (each round new mail and other old messages moved) and
reports the median; ``--cprofile PREFIX`` profiles one more round with cProfile and logs its
SQL (count, time, the slowest statements) to ``PREFIX-<size>.txt`` (``PREFIX-<store>-<size>.txt``
for a store other than maildir).

Each pull's wall time is split (medians over the rounds): waiting on the IMAP server
(``imap_wait``: blocked reading its answers or sending), SQL (``sql``: time in the database
driver, the PostgreSQL server's share included), and the rest — the app's own Python
(``app``); ``cpu`` is the process's CPU time (the app's Python plus the client side of SQL
and IMAP). The app's cost is ``app + sql``; the server's is ``imap_wait``.

Two Dovecot stores, same configuration otherwise (``--stores``): maildir — one file per
message, filled by writing the files — and sdbox, Dovecot's indexed format, filled by
MULTIAPPEND. On maildir, the first session that selects a folder after another client changed
its cur/ directory reads the whole directory and syncs every file name against
dovecot-uidlist (O(messages)); sdbox answers from its index (bench/dovecot_select_cost.py).
The app knows the messages through bench/mailbox.py's bulk insert and one adopting pull.
The last line is JSON for bench/run.py: ``sizes`` are the first store's rows (maildir),
``stores`` every store's. Database salesinbox_bench_incr (re-created).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mailbox import (
    CommandCounter,
    adopt,
    bulk_ingest,
    make_account,
    setup_django,
    small_messages,
    start_dovecot,
    uid_map,
)

RUNS = 15


class PullClock:
    """Where one pull's time went: waiting on the IMAP server (imaplib blocked in readline,
    read or send), SQL (Django's execute, the database server's share included), and the
    process's CPU time. Wall time minus the first two is the app's own Python."""

    def __init__(self) -> None:
        self.imap_wait = 0.0
        self.sql = 0.0

    def __enter__(self) -> PullClock:
        import imaplib

        from django.db import connection

        self._originals = {name: getattr(imaplib.IMAP4, name) for name in ("readline", "read", "send")}
        for name, original in self._originals.items():
            setattr(imaplib.IMAP4, name, self._timed(original))
        self._sql = connection.execute_wrapper(self._record_sql)
        self._sql.__enter__()
        self._cpu0, self._wall0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        import imaplib

        self.cpu = time.process_time() - self._cpu0
        self.wall = time.perf_counter() - self._wall0
        self._sql.__exit__(None, None, None)
        for name, original in self._originals.items():
            setattr(imaplib.IMAP4, name, original)

    def _timed(self, original):  # type: ignore[no-untyped-def]
        def timed(conn, *args):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return original(conn, *args)
            finally:
                self.imap_wait += time.perf_counter() - t0

        return timed

    def _record_sql(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.sql += time.perf_counter() - t0

    def split_ms(self) -> dict[str, float]:
        return {
            "wall": self.wall * 1000,
            "imap_wait": self.imap_wait * 1000,
            "sql": self.sql * 1000,
            "app": (self.wall - self.imap_wait - self.sql) * 1000,
            "cpu": self.cpu * 1000,
        }


def timed_pull(
    account_pk: int, profile: str = ""
) -> tuple[float, int, dict[str, int], str, dict[str, float]]:
    from sync.pull import pull_account

    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    with CommandCounter() as counter, PullClock() as clock:
        t0 = time.perf_counter()
        summary = pull_account(account_pk)
        seconds = time.perf_counter() - t0
    if profiler is not None:
        profiler.stop()
        Path(profile).write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False)[:5000], file=sys.stderr)
    return seconds, counter.total, dict(counter.counts), summary.line(), clock.split_ms()


def median_split(pulls: list[tuple[float, int, dict[str, int], str, dict[str, float]]]) -> dict[str, float]:
    """Each part's median over the pulls (so the parts need not add up to the wall median)."""
    return {
        part: round(statistics.median(pull[4][part] for pull in pulls), 1)
        for part in ("wall", "imap_wait", "sql", "app", "cpu")
    }


def profiled_pull(account_pk: int, path: str, title: str) -> None:
    """cProfile (top 40 by cumulative time) and the SQL of one pull, as text."""
    import cProfile
    import io
    import pstats
    import re
    from collections import defaultdict

    from django.db import connection

    from sync.pull import pull_account

    statements: dict[str, list[float]] = defaultdict(list)

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            shape = re.sub(r"\(\s*(%s\s*,\s*)+%s\s*\)", "(…)", sql)
            statements[shape].append(time.perf_counter() - t0)

    import imaplib

    timeline: list[str] = []
    complete, command = imaplib.IMAP4._command_complete, imaplib.IMAP4._command
    started: dict[int, tuple[float, str]] = {}

    def timed_command(conn, name, *args):  # type: ignore[no-untyped-def]
        started[id(conn)] = (time.perf_counter(), " ".join([name, *(str(a)[:60] for a in args[:2])]))
        return command(conn, name, *args)

    def timed_complete(conn, name, tag):  # type: ignore[no-untyped-def]
        try:
            return complete(conn, name, tag)
        finally:
            t0, text = started.pop(id(conn), (time.perf_counter(), name))
            timeline.append(f"{(time.perf_counter() - t0) * 1000:8.1f} ms  {text}")

    imaplib.IMAP4._command, imaplib.IMAP4._command_complete = timed_command, timed_complete  # type: ignore[method-assign]
    profiler = cProfile.Profile()
    try:
        with connection.execute_wrapper(record), CommandCounter() as counter:
            t0 = time.perf_counter()
            profiler.enable()
            summary = pull_account(account_pk)
            profiler.disable()
            seconds = time.perf_counter() - t0
    finally:
        imaplib.IMAP4._command, imaplib.IMAP4._command_complete = command, complete  # type: ignore[method-assign]
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
    total_sql = sum(sum(times) for times in statements.values())
    lines = [
        title,
        f"pull (profiled): {seconds * 1000:.1f} ms; {summary.line()}",
        f"IMAP commands: {dict(counter.counts)}",
        f"SQL: {sum(len(t) for t in statements.values())} statements, {total_sql * 1000:.1f} ms",
        "",
        "Slowest statement shapes (total ms, count, SQL):",
    ]
    for shape, times in sorted(statements.items(), key=lambda kv: -sum(kv[1]))[:15]:
        lines.append(f"{sum(times) * 1000:9.1f} ms {len(times):5d}x  {shape[:400]}")
    lines += ["", "IMAP commands in order (time to the tagged answer):", *timeline]
    lines += ["", "cProfile, top 40 by cumulative time:", out.getvalue()]
    Path(path).write_text("\n".join(lines))


def changes(user, mids: dict[int, str], size: int, round_: int) -> None:  # type: ignore[no-untyped-def]
    """100 changes by another client: 50 delivered, 50 of the oldest not yet moved to Archive."""
    with user.client() as client:
        for _mid, raw in small_messages(50, user.address, tag=f"new{size}r{round_}"):
            client.append("INBOX", raw)
        client.select_folder("INBOX")
        client.move(sorted(mids)[50 * round_ : 50 * round_ + 50], "Archive")


def one_size(server, size: int, profile: str, rounds: int = 1, cprofile: str = "") -> dict[str, object]:  # type: ignore[no-untyped-def]
    user = server.add_user(f"incr{size}")
    t0 = time.perf_counter()
    server.fill(user, "INBOX", (raw for _mid, raw in small_messages(size, user.address, tag=f"i{size}")))
    fill_s = time.perf_counter() - t0
    with user.client() as client:
        t0 = time.perf_counter()
        uidvalidity, mids = uid_map(client)
        index_s = time.perf_counter() - t0
    _rep, account = make_account(user)
    t0 = time.perf_counter()
    bulk_ingest(account, "INBOX", uidvalidity, mids)
    ingest_s = time.perf_counter() - t0
    adopted = adopt(account)

    no_change = [timed_pull(account.pk) for _ in range(RUNS)]
    times = sorted(s for s, *_ in no_change)
    if profile:
        timed_pull(account.pk, profile.replace(".html", f"-nochange-{size}.html"))

    # 100 changes by another client: 50 delivered, 50 of the oldest moved to Archive.
    changed = []
    for round_ in range(rounds):
        changes(user, mids, size, round_)
        changed.append(
            timed_pull(account.pk, profile.replace(".html", f"-changes-{size}.html") if profile else "")
        )
    changed_s = statistics.median(s for s, *_ in changed)
    _s, changed_cmds, changed_kinds, changed_line, _split = changed[0]
    if cprofile:
        changes(user, mids, size, rounds)
        store = "" if server.store == "maildir" else f"-{server.store}"
        profiled_pull(
            account.pk,
            f"{cprofile}{store}-{size}.txt",
            f"Incremental pull, 100 changes, {size:,} messages ({server.store})",
        )
    return {
        "store": server.store,
        "messages": size,
        "fill_s": round(fill_s, 1),
        "dovecot_index_and_uid_map_s": round(index_s, 1),
        "bulk_ingest_s": round(ingest_s, 1),
        "adopt": adopted.line(),
        "no_change_median_ms": round(statistics.median(times) * 1000, 1),
        "no_change_p95_ms": round(times[int(len(times) * 0.95) - 1] * 1000, 1),
        "no_change_imap_commands": no_change[0][1],
        "no_change_command_kinds": no_change[0][2],
        "no_change_split_ms": median_split(no_change),
        "changes_100_ms": round(changed_s * 1000, 1),
        "changes_100_rounds_ms": [round(s * 1000, 1) for s, *_ in changed],
        "changes_100_split_ms": median_split(changed),
        "changes_100_imap_commands": changed_cmds,
        "changes_100_command_kinds": changed_kinds,
        "changes_100_summary": changed_line,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--profile", default="", help="pyinstrument HTML profiles: <name>-<case>-<size>.html")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of 100 changes (median)")
    parser.add_argument(
        "--cprofile", default="", help="cProfile + SQL text of one more round: PREFIX-<size>.txt"
    )
    parser.add_argument(
        "--stores",
        nargs="+",
        default=["maildir", "sdbox"],
        choices=["maildir", "sdbox", "mdbox"],
        help="Dovecot mail stores to measure, one server each",
    )
    args = parser.parse_args()
    setup_django("salesinbox_bench_incr")
    stores: dict[str, list[dict[str, object]]] = {}
    for store in args.stores:
        server = start_dovecot(store)
        try:
            rows = stores.setdefault(store, [])
            for size in args.sizes:
                row = one_size(server, size, args.profile, args.rounds, args.cprofile)
                row["load_average"] = round(os.getloadavg()[0], 1)
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
        finally:
            server.cleanup()
    print(
        json.dumps(
            {
                "sizes": stores[args.stores[0]],
                "stores": stores,
                "load_average": round(os.getloadavg()[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
