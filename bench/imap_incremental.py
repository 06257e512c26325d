"""Incremental IMAP sync of a big mailbox: ``pull_account`` with no change and with 100
changes (50 new messages delivered, 50 moved to Archive by another mail client), wall time
and the number of IMAP commands, at 10,000 and 100,000 messages (is it independent of size?).

    .venv/bin/python bench/imap_incremental.py [--sizes 10000 100000] [--profile out.html]

Dovecot is filled by writing maildir files; the app knows the messages through
bench/mailbox.py's bulk insert and one adopting pull. The last line is JSON for bench/run.py.
Database salesinbox_bench_incr (re-created).
"""

from __future__ import annotations

import argparse
import json
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


def timed_pull(account_pk: int, profile: str = "") -> tuple[float, int, dict[str, int], str]:
    from sync.pull import pull_account

    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    with CommandCounter() as counter:
        t0 = time.perf_counter()
        summary = pull_account(account_pk)
        seconds = time.perf_counter() - t0
    if profiler is not None:
        profiler.stop()
        Path(profile).write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False)[:5000], file=sys.stderr)
    return seconds, counter.total, dict(counter.counts), summary.line()


def one_size(server, size: int, profile: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    user = server.add_user(f"incr{size}")
    t0 = time.perf_counter()
    server.write_maildir(
        user, "INBOX", (raw for _mid, raw in small_messages(size, user.address, tag=f"i{size}"))
    )
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
    with user.client() as client:
        for _mid, raw in small_messages(50, user.address, tag=f"new{size}"):
            client.append("INBOX", raw)
        client.select_folder("INBOX")
        client.move(sorted(mids)[:50], "Archive")
    changed_s, changed_cmds, changed_kinds, changed_line = timed_pull(
        account.pk, profile.replace(".html", f"-changes-{size}.html") if profile else ""
    )
    return {
        "messages": size,
        "maildir_fill_s": round(fill_s, 1),
        "dovecot_index_and_uid_map_s": round(index_s, 1),
        "bulk_ingest_s": round(ingest_s, 1),
        "adopt": adopted.line(),
        "no_change_median_ms": round(statistics.median(times) * 1000, 1),
        "no_change_p95_ms": round(times[int(len(times) * 0.95) - 1] * 1000, 1),
        "no_change_imap_commands": no_change[0][1],
        "no_change_command_kinds": no_change[0][2],
        "changes_100_ms": round(changed_s * 1000, 1),
        "changes_100_imap_commands": changed_cmds,
        "changes_100_command_kinds": changed_kinds,
        "changes_100_summary": changed_line,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--profile", default="", help="pyinstrument HTML profiles: <name>-<case>-<size>.html")
    args = parser.parse_args()
    setup_django("salesinbox_bench_incr")
    server = start_dovecot()
    try:
        rows = []
        for size in args.sizes:
            row = one_size(server, size, args.profile)
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
        print(json.dumps({"sizes": rows}))
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
