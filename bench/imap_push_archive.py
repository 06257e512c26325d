"""Bulk archive pushed to a real Dovecot: 10,000 conversations archived in the app with the
archive switch on (``archive_conversations``), then ``push_account`` until every message is
in Archive — next to one raw imapclient ``UID MOVE`` of the same number of UIDs on a fresh
copy of the same mailbox, in the same run.

    .venv/bin/python bench/imap_push_archive.py [--messages 10000] [--profile out.html]

The last line is JSON for bench/run.py. Database salesinbox_bench_push (re-created).
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--profile", help="write a pyinstrument HTML profile of the push here")
    args = parser.parse_args()
    setup_django("salesinbox_bench_push")

    from imapclient import IMAPClient

    from inbox.models import ChangeStatus, Conversation, ProviderChange
    from inbox.services import archive_conversations
    from sync.providers.imap.client import uid_ranges
    from sync.push import push_account

    server = start_dovecot()
    try:
        app_user, raw_user = server.add_user("push"), server.add_user("raw")
        messages = small_messages(args.messages, app_user.address, tag="push")
        for user in (app_user, raw_user):
            server.write_maildir(user, "INBOX", (raw for _mid, raw in messages))
        with app_user.client() as client:
            uidvalidity, mids = uid_map(client)
        with raw_user.client() as client:
            client.select_folder("INBOX")  # Dovecot indexes the copy here, not in the timing
        assert len(mids) == args.messages, len(mids)

        rep, account = make_account(app_user, archive_switch=True)
        bulk_ingest(account, "INBOX", uidvalidity, mids)
        adopted = adopt(account)
        ids = list(Conversation.objects.filter(account=account).values_list("id", flat=True))

        t0 = time.perf_counter()
        archive_conversations(rep, ids)
        service_s = time.perf_counter() - t0
        changes = ProviderChange.objects.filter(account=account).count()

        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
        with CommandCounter() as counter:
            t0 = time.perf_counter()
            summary = push_account(account.pk)
            push_s = time.perf_counter() - t0
        if profiler is not None:
            profiler.stop()
            Path(args.profile).write_text(profiler.output_html())
            print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000], file=sys.stderr)
        pending = ProviderChange.objects.filter(account=account).exclude(status=ChangeStatus.DONE).count()
        with app_user.client() as client:
            in_archive = client.select_folder("Archive", readonly=True)[b"EXISTS"]
            in_inbox = client.select_folder("INBOX", readonly=True)[b"EXISTS"]

        raw = IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=300)
        raw.login(raw_user.login, raw_user.password)
        raw.select_folder("INBOX")
        uids = raw.search("ALL")
        t0 = time.perf_counter()
        raw.move(",".join(uid_ranges(uids)), "Archive")
        raw_s = time.perf_counter() - t0
        raw_archive = raw.select_folder("Archive", readonly=True)[b"EXISTS"]
        raw.logout()

        print(
            f"archive {len(ids):,}: service {service_s:.2f} s ({changes} outbox rows); push {push_s:.2f} s "
            f"({summary.line()}; {counter.total} IMAP commands {dict(counter.counts)}); "
            f"raw UID MOVE {raw_s:.2f} s; push/raw {push_s / raw_s:.1f}x; "
            f"Archive {in_archive}, INBOX {in_inbox}, raw Archive {raw_archive}; adopt: {adopted.line()}",
            file=sys.stderr,
        )
        print(
            json.dumps(
                {
                    "conversations": len(ids),
                    "archive_service_s": round(service_s, 3),
                    "outbox_rows": changes,
                    "push_s": round(push_s, 3),
                    "push_imap_commands": counter.total,
                    "push_imap_command_kinds": dict(counter.counts),
                    "raw_uid_move_s": round(raw_s, 3),
                    "push_over_raw": round(push_s / raw_s, 2),
                    "in_archive_after_push": in_archive,
                    "in_inbox_after_push": in_inbox,
                    "raw_in_archive": raw_archive,
                    "changes_not_done": pending,
                    "push_summary": summary.line(),
                }
            )
        )
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
