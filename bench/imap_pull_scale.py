"""Pull capacity: N idle IMAP mailboxes on one Dovecot (passwd-file users), pulled by one
pull worker with 2 processes under the production beat schedule (``schedule-due-syncs``
every 60 s, SYNC_INTERVAL_SECONDS=120), with a push worker and beat as in compose.

All mailboxes are connected at once and fall due together (as after a restart or a
migration: the hardest case). After a one-minute warm-up the run watches a window of two
sync intervals, sampling each pull's start (``last_sync_at``) every second. A mailbox falls
due when connected and then SYNC_INTERVAL after each pull started; beat looks for due
mailboxes once a minute, so a pull that starts within one beat tick (60 s) of falling due
is "within its interval" — as good as the schedule allows. Every due time in the window
counts (one still unserved at the window's end counts as late, its lag up to the end).
Figures: that share, the lag after falling due (p50/p95/max), pull durations from the
worker log, and how busy the 2 processes were. Each size is merged into
bench/results/latest.json as soon as it is measured.

    .venv/bin/python bench/imap_pull_scale.py [--sizes 1000,2000] [--window 240]

The last line is JSON for bench/run.py. Database salesinbox_bench_scale (re-created).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, fresh_database, latest_results, merge_results
from bench.mailbox import small_messages, start_dovecot

BEAT_TICK_S = 60  # config/settings.py CELERY_BEAT_SCHEDULE["schedule-due-syncs"]
PULL_PROCESSES = 2
SUCCEEDED = re.compile(r"Task sync\.sync_account\[[^\]]+\] succeeded in ([0-9.]+)s")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def make_mailboxes(server, count: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """``count`` passwd-file users written at once, each with one old message in INBOX."""
    import tests.imap.dovecot as dovecot

    token = uuid.uuid4().hex[:6]
    logins = [f"idle{n}-{token}@imap.test" for n in range(count)]
    with server.passwd_file.open("a") as passwd:
        passwd.writelines(f"{login}:{{PLAIN}}{dovecot.PASSWORD}\n" for login in logins)
    time.sleep(1.1)  # Dovecot re-reads the passwd-file at most once a second
    for n, login in enumerate(logins):
        user = dovecot.MailUser(server, login, dovecot.PASSWORD)
        server.write_maildir(user, "INBOX", [small_messages(1, login, tag=f"idle{n}")[0][1]])
    return [(login, dovecot.PASSWORD) for login in logins]


def create_accounts(server, mailboxes: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    """One company per 100 reps, a personal IMAP account each, all due now."""
    from django.utils import timezone

    from accounts.models import Company, Plan, Role, User
    from inbox.models import AccountKind, MailAccount, Provider
    from sync.providers.imap import verify_mailbox

    login, password = mailboxes[0]
    config = verify_mailbox(
        host="127.0.0.1", port=server.port, security="none", login=login, password=password
    )
    now = timezone.now()
    for start in range(0, len(mailboxes), 100):
        company = Company.objects.create(name=f"Scale {start}", plan=Plan.PREMIUM)
        chunk = mailboxes[start : start + 100]
        reps = User.objects.bulk_create(
            [User(email=f"rep-{login}", company=company, role=Role.REGULAR) for login, _ in chunk]
        )
        MailAccount.objects.bulk_create(
            [
                MailAccount(
                    company=company,
                    kind=AccountKind.PERSONAL,
                    owner=rep,
                    provider=Provider.IMAP,
                    address=login,
                    name=login,
                    credentials={"password": password},
                    config={**config.config},
                    next_sync_at=now,
                )
                for rep, (login, password) in zip(reps, chunk, strict=True)
            ]
        )


def run_size(server, size: int, window: int, args_warmup: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.utils import timezone

    from inbox.models import MailAccount

    MailAccount.objects.all().delete()
    started = time.perf_counter()
    create_accounts(server, make_mailboxes(server, size))
    setup_s = round(time.perf_counter() - started, 1)
    queue = f"bench-scale-{os.getpid()}-{size}"
    logs = Path(tempfile.mkdtemp(prefix="si-bench-scale-"))
    env = {**os.environ, "CELERY_QUEUE": queue, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    celery = [sys.executable, "-m", "celery", "-A", "config"]
    commands = {
        # As docker-compose.yml's worker-pull, worker-push and beat, with this run's queue names.
        "pull": [
            *celery,
            "worker",
            "-Q",
            f"{queue}.pull",
            "-n",
            f"pull-{queue}@%h",
            f"--concurrency={PULL_PROCESSES}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        "push": [
            *celery,
            "worker",
            "-Q",
            f"{queue}.push,{queue}",
            "-n",
            f"push-{queue}@%h",
            "--concurrency=1",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        "beat": [*celery, "beat", "--loglevel=INFO"],
    }
    processes = {}
    for name, argv in commands.items():
        log = (logs / f"{name}.log").open("wb")
        processes[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    starts: dict[int, list[float]] = {}

    def sample() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, extract(epoch FROM last_sync_at) FROM inbox_mailaccount")
            for account_id, at in cursor.fetchall():
                if at is not None:
                    seen = starts.setdefault(account_id, [])
                    if not seen or seen[-1] != float(at):
                        seen.append(float(at))

    try:
        # Workers up first (the connect time counts from here on: "connected now").
        while not all(b" ready." in (logs / f"{name}.log").read_bytes() for name in ("pull", "push")):
            time.sleep(0.5)
        MailAccount.objects.update(next_sync_at=timezone.now())
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, extract(epoch FROM next_sync_at) FROM inbox_mailaccount")
            connected_at = {account_id: float(at) for account_id, at in cursor.fetchall()}
        phase_start = time.time()
        # Beat's first schedule-due-syncs comes one tick after it starts; send that one now so
        # the run does not idle for a minute (the later ticks are beat's own).
        from config.celery import app

        app.conf.task_default_queue = queue
        app.send_task("sync.schedule_due_syncs")
        while time.time() < phase_start + args_warmup:
            time.sleep(1)
            sample()
        window_start = time.time()
        log_offset = (logs / "pull.log").stat().st_size
        while time.time() < window_start + window:
            time.sleep(1)
            sample()
        window_end = time.time()
        durations = [
            float(s)
            for s in SUCCEEDED.findall((logs / "pull.log").read_bytes()[log_offset:].decode(errors="replace"))
        ]
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    from django.conf import settings

    interval = settings.SYNC_INTERVAL.total_seconds()
    lags: list[float] = []
    on_time = 0
    for account_id, connected in connected_at.items():
        history = starts.get(account_id, [])
        dues = [connected] + [s + interval for s in history]
        for due in dues:
            if due > window_end - BEAT_TICK_S:
                continue
            resolving = next((s for s in history if s >= due - 1), None)
            if resolving is not None and resolving < window_start:
                continue  # served during the warm-up
            lag = (resolving if resolving is not None else window_end) - due
            lags.append(max(0.0, lag))
            if resolving is not None and lag <= BEAT_TICK_S:
                on_time += 1
    busy = sum(durations) / (window * PULL_PROCESSES)
    return {
        "mailboxes": size,
        "pull_processes": PULL_PROCESSES,
        "sync_interval_s": interval,
        "beat_tick_s": BEAT_TICK_S,
        "setup_s": setup_s,
        "warmup_s": args_warmup,
        "pulled_at_least_once": len(starts),
        "window_s": round(window_end - window_start),
        "due_in_window": len(lags),
        "share_within_interval": round(on_time / len(lags), 3) if lags else None,
        "lag_p50_s": round(percentile(lags, 0.5), 1),
        "lag_p95_s": round(percentile(lags, 0.95), 1),
        "lag_max_s": round(max(lags), 1) if lags else None,
        "pulls_in_window": len(durations),
        "pull_median_ms": round(statistics.median(durations) * 1000, 1) if durations else None,
        "pull_p95_ms": round(percentile(durations, 0.95) * 1000, 1),
        "pull_processes_busy_share": round(busy, 3),
        "load_average": round(os.getloadavg()[0], 2),
    }


def merge_into_latest(results: dict[str, object]) -> None:
    """Keep what is measured even if a later size fails: each size merges into this part's key."""
    earlier = latest_results().get("imap_pull_scale") or {}
    merge_results({"imap_pull_scale": {**earlier, **results}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,2000")
    parser.add_argument("--window", type=int, default=240, help="seconds watched after the warm-up")
    parser.add_argument("--warmup", type=int, default=60)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = fresh_database("salesinbox_bench_scale")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "RVpRVGtkN3F6cXh2bUhRd0lVVXp5a1dHbHd2b3V3d1E=")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
    os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"])
    # The production schedule: only the sync interval is read here, and it is the default.
    os.environ.pop("SYNC_INTERVAL_SECONDS", None)
    import django

    django.setup()
    server = start_dovecot()
    results: dict[str, object] = {}
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            results[str(size)] = run_size(server, size, args.window, args.warmup)
            print(f"{size} mailboxes: {results[str(size)]}", file=sys.stderr, flush=True)
            merge_into_latest(results)
    finally:
        server.cleanup()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
