"""Time to inbox and memory of a big first IMAP sync (issue 21, targets 2 and 5).

    .venv/bin/python bench/imap_time_to_inbox.py [--messages 100000]

A mailbox of ``--messages`` messages (the initial-sync bench's mix) is written to Dovecot;
then a separate process runs ``pull_account`` (so its peak RSS is the sync's alone, not the
mailbox generator's) while a second thread, on its own database connection, watches what
the Inbox page would show every 50 ms:

* ``time_to_50_s``: from the pull's start until 50 conversations are committed and visible;
* ``first_page_overlap``: how many of the 50 conversations on the Inbox's first page at that
  moment are still on it when the sync is done (newest first means: all 50);
* the progress bar (``initial_sync_done`` / ``initial_sync_total``): total known from the
  first report, never going backwards, done == total at the end;
* ``peak_rss_mb``: the pull process's peak resident memory (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import bench.imap_initial_sync as initial  # noqa: E402  (sets up Django and the database)
from accounts.models import Company, Plan, Role, User  # noqa: E402
from inbox.models import Conversation, MailAccount, Message  # noqa: E402

PAGE = 50


def watch_and_pull(account_id: int, snapshot: Path | None = None) -> dict[str, object]:
    """The child process: pull, and watch the Inbox page from another connection meanwhile.
    With ``snapshot``, the figures so far are written there every 2 s (a parent that stops
    the sync at a deadline still has them)."""
    from django.db import connection

    from sync.pull import pull_account

    samples: list[tuple[float, int, int, int]] = []  # (t, conversations on page, done, total)
    first_page: list[int] = []
    first_at: list[float] = []
    stop = threading.Event()
    started = time.perf_counter()

    def watch() -> None:
        try:
            while not stop.is_set():
                page = list(
                    Conversation.objects.filter(account_id=account_id, state="inbox")
                    .order_by("-last_message_at", "-id")
                    .values_list("pk", flat=True)[:PAGE]
                )
                done, total = MailAccount.objects.filter(pk=account_id).values_list(
                    "initial_sync_done", "initial_sync_total"
                )[0]
                now = time.perf_counter() - started
                samples.append((now, len(page), done, total))
                if len(page) >= PAGE and not first_page:
                    first_page.extend(page)
                    first_at.append(now)
                if snapshot is not None and len(samples) % 40 == 0:
                    snapshot.write_text(json.dumps(figures(done, total, now)))
                stop.wait(0.05)
        finally:
            connection.close()

    def figures(done: int, total: int, now: float) -> dict[str, object]:
        dones = [s[2] for s in samples if s[3]]
        return {
            "partial": True,
            "pull_s_so_far": round(now, 1),
            "msg_per_s": round(done / now) if now else 0,
            "time_to_50_s": round(first_at[0], 2) if first_at else None,
            "first_page": first_page,
            "progress_totals_seen": sorted({s[3] for s in samples if s[3]}),
            "progress_monotonic": all(a <= b for a, b in itertools.pairwise(dones)),
            "progress_final": [done, total],
            "progress_samples": [
                [round(t, 2), n, d, tot] for t, n, d, tot in samples[:: max(1, len(samples) // 60)]
            ],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    summary = pull_account(account_id)
    seconds = time.perf_counter() - started
    stop.set()
    watcher.join()
    final_page = list(
        Conversation.objects.filter(account_id=account_id, state="inbox")
        .order_by("-last_message_at", "-id")
        .values_list("pk", flat=True)[:PAGE]
    )
    stored = Message.objects.filter(account_id=account_id).count()
    account = MailAccount.objects.get(pk=account_id)
    dones = [s[2] for s in samples if s[3]]
    totals = {s[3] for s in samples if s[3]}
    return {
        "pull_s": round(seconds, 2),
        "msg_per_s": round(stored / seconds),
        "stored": stored,
        "time_to_50_s": round(first_at[0], 2) if first_at else None,
        "first_page_overlap": len(set(first_page) & set(final_page)),
        "progress_totals_seen": sorted(totals),
        "progress_monotonic": all(a <= b for a, b in itertools.pairwise(dones)),
        "progress_final": [account.initial_sync_done, account.initial_sync_total],
        "progress_samples": [
            [round(t, 2), n, d, tot] for t, n, d, tot in samples[:: max(1, len(samples) // 60)]
        ],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "summary": summary.line(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument(
        "--deadline", type=int, default=0, help="stop the sync after this many seconds (figures so far)"
    )
    parser.add_argument("--pull", type=int, default=0, help=argparse.SUPPRESS)  # the child's mode
    parser.add_argument("--snapshot", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pull:
        print(json.dumps(watch_and_pull(args.pull, Path(args.snapshot) if args.snapshot else None)))
        return

    from django.core.management import call_command

    from bench.mailbox import imap_account

    call_command("migrate", verbosity=0, interactive=False)
    server = initial.Dovecot("standard").start()
    company = None
    try:
        user = server.add_user("inbox")
        t0 = time.perf_counter()
        server.write_maildir(user, "INBOX", initial.iter_messages(args.messages, user.address))
        fill = time.perf_counter() - t0
        with user.client() as client:
            exists = client.select_folder("INBOX")[b"EXISTS"]
        assert exists == args.messages, exists
        company = Company.objects.create(name=f"Bench inbox {time.time():.0f}", plan=Plan.PREMIUM)
        rep = User.objects.create_user(f"rep-{time.time_ns()}@bench.test", company=company, role=Role.ADMIN)
        account = imap_account(user, company=company, rep=rep, sync_past_days=3650)
        snapshot = Path(tempfile.mkdtemp(prefix="si-tti-")) / "snapshot.json"
        child = subprocess.Popen(
            [sys.executable, __file__, "--pull", str(account.pk), "--snapshot", str(snapshot)],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ,
        )
        try:
            out, _ = child.communicate(timeout=args.deadline or None)
            result = json.loads(out.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            # The deadline: the figures so far (time to 50, progress, peak RSS until now).
            child.kill()
            child.communicate()
            result = json.loads(snapshot.read_text())
            final = list(
                Conversation.objects.filter(account_id=account.pk, state="inbox")
                .order_by("-last_message_at", "-id")
                .values_list("pk", flat=True)[:PAGE]
            )
            result["first_page_overlap"] = len(set(result.pop("first_page")) & set(final))
            result["stored"] = Message.objects.filter(account_id=account.pk).count()
            result["stopped_at_deadline_s"] = args.deadline
        result = {
            "messages": args.messages,
            "maildir_fill_s": round(fill, 1),
            **result,
            "load_average": round(os.getloadavg()[0], 1),
        }
        print(json.dumps(result))
    finally:
        if company is not None:
            company.delete()
        server.cleanup()


if __name__ == "__main__":
    main()
