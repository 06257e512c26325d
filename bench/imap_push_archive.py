"""Bulk archive pushed to a real Dovecot: 10,000 conversations archived in the app with the
archive switch on (``archive_conversations``), then ``push_account`` until every message is
in Archive — next to one raw imapclient ``UID MOVE`` of the same number of UIDs on a fresh
copy of the same mailbox, in the same run. ``--runs`` pairs (3 by default) alternate, each on
new mailboxes with the disk settled before each timing (PostgreSQL CHECKPOINT, sync); the
medians are compared, because one raw MOVE swings from 0.5 to 0.75 s here.

    .venv/bin/python bench/imap_push_archive.py [--messages 10000] [--runs 3] [--profile out.html]

The last line is JSON for bench/run.py. Database salesinbox_bench_push (re-created).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mailbox import (
    CommandCounter,
    adopt,
    bulk_ingest,
    make_account,
    settle_disk,
    setup_django,
    small_messages,
    start_dovecot,
    uid_map,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--runs", type=int, default=3, help="alternated push / raw MOVE pairs; medians are compared"
    )
    parser.add_argument("--profile", help="write a pyinstrument HTML profile of an extra, untimed push here")
    args = parser.parse_args()
    setup_django("salesinbox_bench_push")

    server = start_dovecot()
    try:
        if args.profile:
            measure_push(server, args.messages, "profiled", profile=args.profile)
        pushes: list[dict[str, Any]] = []
        raws: list[float] = []
        for number in range(max(1, args.runs)):
            pushes.append(measure_push(server, args.messages, str(number)))
            raws.append(measure_raw_move(server, args.messages, str(number)))
        # The run of the median push is reported whole; every run's time is listed.
        push = sorted(pushes, key=lambda run: run["push_s"])[len(pushes) // 2]
        raw_s = sorted(raws)[len(raws) // 2]
        push_runs = [run["push_s"] for run in pushes]
        print(
            f"archive {push['conversations']:,}: service {push['archive_service_s']:.2f} s "
            f"({push['outbox_rows']} outbox rows); push {push['push_s']:.2f} s ({push['push_summary']}; "
            f"{push['push_imap_commands']} IMAP commands {push['push_imap_command_kinds']}); "
            f"raw UID MOVE {raw_s:.2f} s; push/raw {push['push_s'] / raw_s:.2f}x (medians; push runs "
            f"{push_runs} s, raw runs {[round(r, 3) for r in raws]} s); Archive {push['in_archive_after_push']}, "
            f"INBOX {push['in_inbox_after_push']}, references in Archive {push['refs_in_archive_after_push']}; "
            f"load {os.getloadavg()[0]:.1f}",
            file=sys.stderr,
        )
        print(
            json.dumps(
                {
                    **push,
                    "raw_uid_move_s": round(raw_s, 3),
                    "push_over_raw": round(push["push_s"] / raw_s, 2),
                    "runs": len(pushes),
                    "push_runs_s": push_runs,
                    "raw_uid_move_runs_s": [round(r, 3) for r in raws],
                    "load_average": round(os.getloadavg()[0], 1),
                }
            )
        )
    finally:
        server.cleanup()


def measure_push(server: Any, messages: int, name: str, *, profile: str = "") -> dict[str, Any]:
    """A new mailbox of ``messages`` known to a new account, all archived in the app, then one
    timed ``push_account`` until every message is in Archive."""
    from inbox.models import ChangeStatus, Conversation, ProviderChange, ProviderRef
    from inbox.services import archive_conversations
    from sync.push import push_account

    user = server.add_user(f"push{name}")
    server.write_maildir(
        user, "INBOX", (raw for _mid, raw in small_messages(messages, user.address, tag="push"))
    )
    with user.client() as client:
        uidvalidity, mids = uid_map(client)
    assert len(mids) == messages, len(mids)
    rep, account = make_account(user, archive_switch=True)
    bulk_ingest(account, "INBOX", uidvalidity, mids)
    adopt(account)
    ids = list(Conversation.objects.filter(account=account).values_list("id", flat=True))
    t0 = time.perf_counter()
    archive_conversations(rep, ids)
    service_s = time.perf_counter() - t0
    changes = ProviderChange.objects.filter(account=account).count()

    settle_disk()
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    with CommandCounter() as counter:
        t0 = time.perf_counter()
        summary = push_account(account.pk)
        push_s = time.perf_counter() - t0
    if profiler is not None:
        profiler.stop()
        Path(profile).write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000], file=sys.stderr)
    pending = ProviderChange.objects.filter(account=account).exclude(status=ChangeStatus.DONE).count()
    # The references followed the messages (rewritten while the MOVEs went on).
    refs_in_archive = ProviderRef.objects.filter(account=account, folder="Archive").count()
    with user.client() as client:
        in_archive = client.select_folder("Archive", readonly=True)[b"EXISTS"]
        in_inbox = client.select_folder("INBOX", readonly=True)[b"EXISTS"]
    return {
        "conversations": len(ids),
        "archive_service_s": round(service_s, 3),
        "outbox_rows": changes,
        "push_s": round(push_s, 3),
        "push_imap_commands": counter.total,
        "push_imap_command_kinds": dict(counter.counts),
        "in_archive_after_push": in_archive,
        "in_inbox_after_push": in_inbox,
        "changes_not_done": pending,
        "refs_in_archive_after_push": refs_in_archive,
        "push_summary": summary.line(),
    }


def measure_raw_move(server: Any, messages: int, name: str) -> float:
    """One raw imapclient ``UID MOVE`` of every message of a new copy of the same mailbox."""
    from imapclient import IMAPClient

    from sync.providers.imap.client import uid_ranges

    user = server.add_user(f"raw{name}")
    server.write_maildir(
        user, "INBOX", (raw for _mid, raw in small_messages(messages, user.address, tag="push"))
    )
    raw = IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=300)
    raw.login(user.login, user.password)
    raw.select_folder("INBOX")  # Dovecot indexes the copy here, not in the timing
    uids = raw.search("ALL")
    settle_disk()
    t0 = time.perf_counter()
    raw.move(",".join(uid_ranges(uids)), "Archive")
    seconds = time.perf_counter() - t0
    moved = raw.select_folder("Archive", readonly=True)[b"EXISTS"]
    raw.logout()
    assert moved == messages, moved
    return seconds


if __name__ == "__main__":
    main()
