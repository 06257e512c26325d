"""Initial IMAP sync throughput: the app's pull of 10,000 messages from a real Dovecot, next
to a raw imapclient FETCH of the same messages and to ``mbsync`` (isync) copying the same
mailbox to a maildir, in the same run.

    .venv/bin/python bench/imap_initial_sync.py [--messages 10000] [--keep-db]

(``make bench`` runs it too and reads the JSON summary on its last line.)

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/salesinbox_bench_imap;
the database is created and migrated if missing) and Dovecot (scripts/ensure-test-services.sh).
The mailbox is filled by writing maildir files directly, then Dovecot indexes it once
(a warm-up SELECT) so neither measurement pays for that.

"raw FETCH" is the floor: the same SEARCH and the same batched ``BODY.PEEK[]`` fetches the
adapter does, with nothing done to the bytes. "app pull" is ``pull_account``: fetch, MIME
parse, threading, participants, provider references, one transaction per message.
"""

from __future__ import annotations

import argparse
import cProfile
import email.utils
import io
import json
import os
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/salesinbox_bench_imap")
os.environ.setdefault("DEBUG", "0")  # DEBUG would record every query
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "RVpRVGtkN3F6cXh2bUhRd0lVVXp5a1dHbHd2b3V3d1E=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SECURE_COOKIES", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def _ensure_database() -> None:
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    with psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{config["NAME"]}"')


_ensure_database()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402
from imapclient import IMAPClient  # noqa: E402

from accounts.models import Company, Plan, Role, User  # noqa: E402
from bench.mailbox import imap_account, settle_disk  # noqa: E402
from inbox.models import MailAccount, Message  # noqa: E402
from sync import parse_pool  # noqa: E402
from sync.pull import pull_account  # noqa: E402
from tests.imap.dovecot import Dovecot  # noqa: E402

CUSTOMERS = [f"buyer{n}@customer{n % 40}.test" for n in range(200)]


def build_messages(count: int, rep: str, seed: int = 7) -> list[bytes]:
    """A sales mailbox's mix: short plain mails, HTML newsletters, some attachments, threads."""
    return list(iter_messages(count, rep, seed))


def iter_messages(count: int, rep: str, seed: int = 7) -> Iterator[bytes]:
    """``build_messages`` one at a time (a 100,000-message mailbox need not sit in memory)."""
    rng = random.Random(seed)
    now = datetime.now().astimezone()
    recent_ids: list[tuple[str, str]] = []
    for n in range(count):
        sender = rng.choice(CUSTOMERS)
        when = now - timedelta(minutes=(count - n) * 7)
        message_id = f"<bench-{n}-{rng.getrandbits(32):08x}@{sender.split('@')[1]}>"
        headers = [
            f"From: Buyer {n % 200} <{sender}>",
            f"To: Rep <{rep}>",
            f"Date: {email.utils.format_datetime(when)}",
            f"Message-ID: {message_id}",
            "MIME-Version: 1.0",
        ]
        if recent_ids and rng.random() < 0.3:
            parent_id, subject = rng.choice(recent_ids[-50:])
            headers += [f"Subject: Re: {subject}", f"In-Reply-To: {parent_id}", f"References: {parent_id}"]
        else:
            subject = f"Quote request {n}: {rng.choice(['licenses', 'renewal', 'pilot', 'pricing'])}"
            headers.append(f"Subject: {subject}")
        recent_ids.append((message_id, subject))
        del recent_ids[:-50]
        paragraph = " ".join(
            rng.choice(["price", "seats", "contract", "deadline", "demo", "team"]) for _ in range(60)
        )
        kind = rng.random()
        if kind < 0.7:
            body = "\r\n\r\n".join(paragraph for _ in range(rng.randint(2, 8)))
            raw = "\r\n".join([*headers, "Content-Type: text/plain; charset=utf-8", "", body, ""])
        elif kind < 0.92:
            html = "".join(f"<p>{paragraph}</p>" for _ in range(rng.randint(3, 12)))
            raw = "\r\n".join(
                [
                    *headers,
                    'Content-Type: multipart/alternative; boundary="alt"',
                    "",
                    "--alt",
                    "Content-Type: text/plain; charset=utf-8",
                    "",
                    paragraph,
                    "--alt",
                    "Content-Type: text/html; charset=utf-8",
                    "",
                    f"<html><body>{html}</body></html>",
                    "--alt--",
                    "",
                ]
            )
        else:
            blob = os.urandom(rng.randint(30_000, 200_000))
            encoded = email.base64mime.body_encode(blob, maxlinelen=76)
            raw = "\r\n".join(
                [
                    *headers,
                    'Content-Type: multipart/mixed; boundary="mix"',
                    "",
                    "--mix",
                    "Content-Type: text/plain; charset=utf-8",
                    "",
                    paragraph,
                    "--mix",
                    f'Content-Type: application/pdf; name="offer-{n}.pdf"',
                    f'Content-Disposition: attachment; filename="offer-{n}.pdf"',
                    "Content-Transfer-Encoding: base64",
                    "",
                    encoded,
                    "--mix--",
                    "",
                ]
            )
        yield raw.encode()


def raw_fetch(server: Dovecot, login: str, password: str, days: int) -> tuple[int, int, float]:
    """The same SEARCH and batched FETCHes as the adapter, nothing else."""
    from sync.providers.imap.client import quiet_protocol_trace
    from sync.providers.imap.pull import BODY_BATCH_COUNT, META_BATCH

    started = time.perf_counter()
    client = IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=120)
    quiet_protocol_trace(client)  # as the adapter's connections are (sync/providers/imap/client.py)
    client.login(login, password)
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search(["SINCE", (datetime.now() - timedelta(days=days)).date()]))
    count = size = 0
    for start in range(0, len(uids), META_BATCH):
        batch = uids[start : start + META_BATCH]
        client.fetch(batch, ["RFC822.SIZE", "FLAGS", "INTERNALDATE"])
        for group_start in range(0, len(batch), BODY_BATCH_COUNT):
            for data in client.fetch(
                batch[group_start : group_start + BODY_BATCH_COUNT], ["BODY.PEEK[]"]
            ).values():
                count += 1
                size += len(data[b"BODY[]"])
    client.logout()
    return count, size, time.perf_counter() - started


def run_mbsync(server: Dovecot, login: str, password: str) -> tuple[int, float]:
    """mbsync (isync) pulls the same INBOX into an empty maildir: a mature C sync client's rate."""
    if not shutil.which("mbsync"):  # `make bench` installs it; a bare run tries apt-get once
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "isync"], check=False)
    with tempfile.TemporaryDirectory(prefix="si-mbsync-") as tmp:
        store = Path(tmp) / "mail"
        store.mkdir()
        config = Path(tmp) / "mbsyncrc"
        config.write_text(
            f'IMAPAccount bench\nHost 127.0.0.1\nPort {server.port}\nUser {login}\nPass "{password}"\n'
            "SSLType None\nAuthMechs LOGIN\n\nIMAPStore remote\nAccount bench\n\n"
            f"MaildirStore local\nPath {store}/\nInbox {store}/INBOX\n\n"
            "Channel bench\nFar :remote:\nNear :local:\nPatterns INBOX\nSync Pull\nCreate Near\n"
            "SyncState *\n"
        )
        started = time.perf_counter()
        subprocess.run(["mbsync", "-c", str(config), "-q", "bench"], check=True, capture_output=True)
        seconds = time.perf_counter() - started
        count = sum(1 for sub in ("cur", "new") for _ in (store / "INBOX" / sub).iterdir())
    return count, seconds


_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, *, reaped: bool = False) -> float:
    """CPU seconds (user + system) of a process from /proc; with ``reaped`` also its children
    that have exited and been waited for (Dovecot's master reaps its imap processes)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")": state is field 3, utime 14, stime 15, cutime 16, cstime 17 (proc(5)).
    used = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return used / _TICKS


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds of a process tree: the root with its reaped children, and the live ones."""
    return _proc_cpu(root, reaped=True) + sum(_proc_cpu(pid, reaped=True) for pid in _descendants(root))


def children_cpu() -> float:
    """CPU seconds of this process's exited and waited-for children (the parse workers, once
    the pool is shut down)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class ThreadBackends:
    """CPU seconds of the PostgreSQL backends of the connections other threads of this process
    open (the pull's store thread: sync/store.py ``BackgroundStore``), each read when its
    connection is closed — an exited backend can no longer be read — over its whole life, its
    start included: a cost of storing on a second connection."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.connections = 0
        # The storing threads' own CPU (Python, psycopg), read on the thread as it closes its
        # connection (``BackgroundStore`` closes it on the thread, at the pull's end).
        self.thread_cpu = 0.0
        connection_created.connect(self._created)

    def _created(self, sender: object, connection: Any, **kwargs: object) -> None:
        if threading.current_thread() is threading.main_thread():
            return
        pid = connection.connection.info.backend_pid
        close = connection._close

        def closing() -> None:
            self.cpu += _proc_cpu(pid)
            self.thread_cpu += time.thread_time()
            self.connections += 1
            close()

        connection._close = closing

    def stop(self) -> None:
        """Count no more connections (the next run has its own)."""
        connection_created.disconnect(self._created)


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def write_profile(profiler: cProfile.Profile, path: Path, messages: int, seconds: float) -> None:
    """A text summary of the pull's profile: the top 40 functions by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(40)
    header = (
        f"cProfile of pull_account, initial sync of {messages:,} messages from Dovecot: "
        f"{seconds:.2f} s wall (profiled), load average {os.getloadavg()[0]:.1f}\n\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + out.getvalue())


def measure_pull(server: Dovecot, user: Any, profile: str, messages: int) -> dict[str, Any]:
    """One initial sync of the mailbox into a new account, with its CPU per process. The
    account's company is returned in ``company`` (deleted by the caller)."""
    company = Company.objects.create(name=f"Bench {time.time_ns()}", plan=Plan.PREMIUM)
    rep = User.objects.create_user(f"rep-{time.time_ns()}@bench.test", company=company, role=Role.ADMIN)
    account = imap_account(user, company=company, rep=rep)
    profiler = cProfile.Profile() if profile else None
    # CPU per process (primary on a shared machine): this process (fetch, ingest), the
    # parse workers (children, counted once the pool is shut down), the PostgreSQL backend
    # of this connection, and Dovecot (its master and every imap process under it).
    parse_pool.shutdown()
    settle_disk()
    pg_pid = backend_pid()
    assert server.process is not None
    thread_backends = ThreadBackends()
    workers0, pg0, dovecot0 = children_cpu(), _proc_cpu(pg_pid), tree_cpu(server.process.pid)
    t0, cpu0 = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    summary = pull_account(account.pk)
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - t0
    if profiler is not None:
        write_profile(profiler, Path(profile), messages, seconds)
    # CPU of this process alone (parsing, ORM, imapclient): a figure that a busy shared
    # machine inflates far less than the wall clock.
    app_cpu = time.process_time() - cpu0
    main_pg_cpu = _proc_cpu(pg_pid) - pg0 if backend_pid() == pg_pid else float("nan")
    dovecot_cpu = tree_cpu(server.process.pid) - dovecot0
    parse_pool.shutdown()
    thread_backends.stop()
    return {
        "company": company,
        "seconds": seconds,
        "summary": summary,
        "stored": Message.objects.filter(account=account).count(),
        "conversations": account.conversations.count(),
        "app_cpu": app_cpu,
        "main_pg_cpu": main_pg_cpu,
        "thread_backends": thread_backends,
        "pg_cpu": main_pg_cpu + thread_backends.cpu,
        "dovecot_cpu": dovecot_cpu,
        "workers_cpu": children_cpu() - workers0,
        "load": os.getloadavg()[0],
    }


def forget(company: Company) -> None:
    """The run's rows deleted and the tables vacuumed: the next run starts where this did."""
    company.delete()
    with connection.cursor() as cursor:
        for table in ("inbox_message", "inbox_conversation", "inbox_participant", "inbox_providerref"):
            cursor.execute(f'VACUUM "{table}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="app pulls and mbsync copies, alternated; the medians are compared (each run alone "
        "swings by a second or more on a shared machine, mbsync's with the disk's fsyncs)",
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the last run's rows in the database")
    parser.add_argument(
        "--profile", default="", help="write a cProfile summary (top functions by cumulative time) here"
    )
    parser.add_argument("--skip-mbsync", action="store_true", help="leave out the mbsync reference")
    args = parser.parse_args()

    call_command("migrate", verbosity=0, interactive=False)
    server = Dovecot("standard").start()
    try:
        user = server.add_user("bench")
        t0 = time.perf_counter()
        server.write_maildir(user, "INBOX", build_messages(args.messages, user.address))
        fill = time.perf_counter() - t0
        with user.client() as client:  # Dovecot indexes the new maildir once, here
            t0 = time.perf_counter()
            exists = client.select_folder("INBOX")[b"EXISTS"]
            index = time.perf_counter() - t0
        assert exists == args.messages, exists

        sync_past_days = MailAccount._meta.get_field("sync_past_days").get_default()  # as each run's account
        raw_count, raw_bytes, raw_seconds = raw_fetch(server, user.login, user.password, sync_past_days)
        runs: list[dict[str, Any]] = []
        mbsync_runs: list[tuple[int, float]] = []
        for number in range(max(1, args.runs)):
            run = measure_pull(server, user, args.profile if number == 0 else "", args.messages)
            if number < args.runs - 1 or not args.keep_db:
                forget(run.pop("company"))
            runs.append(run)
            if not args.skip_mbsync:
                settle_disk()
                mbsync_runs.append(run_mbsync(server, user.login, user.password))
        raw_again = raw_fetch(server, user.login, user.password, sync_past_days)[2]
        # The run of the median time is reported whole; every run's time is listed.
        median = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
        mbsync_count, mbsync_seconds = (
            sorted(mbsync_runs, key=lambda run: run[1])[len(mbsync_runs) // 2] if mbsync_runs else (0, 1.0)
        )
        app_seconds, stored, summary = median["seconds"], median["stored"], median["summary"]
        app_cpu, pg_cpu, thread_backends = median["app_cpu"], median["pg_cpu"], median["thread_backends"]
        workers_cpu, dovecot_cpu = median["workers_cpu"], median["dovecot_cpu"]

        mb = raw_bytes / 1_048_576
        print(
            f"Dovecot {server.variant}, {args.messages:,} messages, {mb:.1f} MB, load {os.getloadavg()[0]:.1f}"
        )
        print(f"  fill (maildir files) {fill:6.2f} s; first SELECT (Dovecot indexing) {index:6.2f} s")
        print(
            f"  raw imapclient FETCH  {raw_seconds:6.2f} s  {raw_count / raw_seconds:8.0f} msg/s  {mb / raw_seconds:6.1f} MB/s"
        )
        print(f"  raw FETCH, again      {raw_again:6.2f} s  {raw_count / raw_again:8.0f} msg/s")
        print(
            f"  app pull_account      {app_seconds:6.2f} s  {stored / app_seconds:8.0f} msg/s  "
            f"({summary.line()}; {median['conversations']:,} conversations; median of "
            f"{', '.join(f'{seconds:.2f}' for seconds in (run['seconds'] for run in runs))} s)"
        )
        print(f"  app / raw time        {app_seconds / raw_seconds:6.1f}x")
        print(
            f"  mbsync to maildir     {mbsync_seconds:6.2f} s  {mbsync_count / mbsync_seconds:8.0f} msg/s"
            f"  (median of {', '.join(f'{seconds:.2f}' for _count, seconds in mbsync_runs)} s)"
        )
        print(
            f"  app process CPU       {app_cpu:6.2f} s  ({app_cpu / stored * 1000:.1f} ms per message; "
            "every thread of the process)"
        )
        print(
            f"  store thread CPU      {thread_backends.thread_cpu:6.2f} s  (part of the process's: ingest "
            "Python and psycopg)"
        )
        print(
            f"  PostgreSQL backends   {pg_cpu:6.2f} s  (the pull's connection {median['main_pg_cpu']:.2f}, "
            f"{thread_backends.connections} store-thread connection(s) {thread_backends.cpu:.2f})"
        )
        per = 10_000 / max(stored, 1)
        print(
            f"  CPU s per 10,000      main {app_cpu * per:.2f}, parse workers {workers_cpu * per:.2f}, "
            f"PostgreSQL backend {pg_cpu * per:.2f}, Dovecot {dovecot_cpu * per:.2f}; "
            f"total {(app_cpu + workers_cpu + pg_cpu + dovecot_cpu) * per:.2f}"
        )
        # Last line: JSON for bench/run.py (make bench), which collects every bench/imap_*.py.
        print(
            json.dumps(
                {
                    "messages": args.messages,
                    "megabytes": round(mb, 1),
                    "raw_fetch_s": round(raw_seconds, 2),
                    "raw_fetch_msg_per_s": round(raw_count / raw_seconds),
                    "raw_fetch_again_s": round(raw_again, 2),
                    "runs": len(runs),
                    "app_pull_s": round(app_seconds, 2),
                    "app_pull_runs_s": [round(run["seconds"], 2) for run in runs],
                    "app_pull_msg_per_s": round(stored / app_seconds),
                    "app_over_raw": round(app_seconds / raw_seconds, 1),
                    "app_share_of_raw_rate": round(raw_seconds / app_seconds, 3),
                    "mbsync_s": round(mbsync_seconds, 2),
                    "mbsync_runs_s": [round(seconds, 2) for _count, seconds in mbsync_runs],
                    "mbsync_msg_per_s": round(mbsync_count / mbsync_seconds),
                    "mbsync_messages": mbsync_count,
                    "app_cpu_s": round(app_cpu, 2),
                    "parse_workers_cpu_s": round(workers_cpu, 2),
                    "postgres_backend_cpu_s": round(pg_cpu, 2),
                    "postgres_store_thread_cpu_s": round(thread_backends.cpu, 2),
                    "store_thread_cpu_s": round(thread_backends.thread_cpu, 2),
                    "dovecot_cpu_s": round(dovecot_cpu, 2),
                    "load_average": round(max(run["load"] for run in runs), 1),
                    "conversations": median["conversations"],
                    "summary": summary.line(),
                }
            )
        )
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
