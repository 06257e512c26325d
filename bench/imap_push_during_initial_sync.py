"""A push while a 10,000-message first sync runs: how long a rep's archive takes to reach the
IMAP server when another mailbox's initial sync is in progress, with the production layout —
docker-compose.yml's ``worker-pull`` and ``worker-push`` commands (their own queues and
process pools) on one Dovecot.

Bob's new mailbox holds 10,000 messages; its first sync is sent to the pull queue. While that
sync holds its lock and is still importing, Alice archives her conversations one at a time
(the archive switch on): each sample is the time from ``archive_conversations`` to the
outbox row being done (the UID MOVE made; the message is then checked in Dovecot's Archive).
After the sync has finished, the same is measured with nothing else running, as the
reference. tests/imap/test_push_during_initial_sync.py shows the order of events in the
suite; this part gives the times.

    .venv/bin/python bench/imap_push_during_initial_sync.py [--messages 10000] [--pushes 5]

The last line is JSON for bench/run.py. Database salesinbox_bench_push_sync (re-created).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT
from bench.mailbox import make_account, setup_django, small_messages, start_dovecot


def compose_worker(service: str, queue: str) -> list[str]:
    """docker-compose.yml's command for ``service``, on this run's queues (``-Q``/``-n``)."""
    from tests.production.stack import compose_command, host_command

    argv = host_command(compose_command(service))
    queues = argv[argv.index("-Q") + 1].split(",")
    argv[argv.index("-Q") + 1] = ",".join(q.replace("salesinbox", queue, 1) for q in queues)
    argv[argv.index("-n") + 1] = f"{service}-{queue}@%h"
    return [*argv, "--without-gossip", "--without-mingle"]


def wait(predicate, timeout: float, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--pushes", type=int, default=5, help="archives during the sync (and after it)")
    args = parser.parse_args()
    setup_django("salesinbox_bench_push_sync")

    from django.core.cache import cache
    from django.db import connection

    from config.celery import app
    from inbox.models import ChangeStatus, Conversation, MailAccount, Message, ProviderChange
    from inbox.services import archive_conversations
    from inbox.services.nudge import SYNC_TASK, send_task_quietly
    from sync.locks import sync_lock_key
    from sync.pull import pull_account

    queue = f"bench-push-sync-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    app.conf.task_default_queue = queue  # this process's nudges go to the run's queues
    logs = Path(tempfile.mkdtemp(prefix="si-bench-push-sync-"))
    env = {**os.environ, "CELERY_QUEUE": queue, "LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT)}
    server = start_dovecot()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    big: MailAccount | None = None
    try:
        big_user, small_user = server.add_user("big"), server.add_user("small")
        written = server.write_maildir(
            big_user,
            "INBOX",
            (raw for _mid, raw in small_messages(args.messages, big_user.address, tag="big")),
        )
        assert written == args.messages, written
        total_pushes = 2 * args.pushes
        server.write_maildir(
            small_user,
            "INBOX",
            (raw for _mid, raw in small_messages(total_pushes, small_user.address, tag="small")),
        )
        _bob, big = make_account(big_user)
        alice, small = make_account(small_user, archive_switch=True)
        pull_account(small.pk)  # Alice's mailbox is in sync before the run
        conversations = list(
            Conversation.objects.filter(account=small).order_by("id").values_list("id", flat=True)
        )
        assert len(conversations) == total_pushes, len(conversations)

        for name, service in (("pull", "worker-pull"), ("push", "worker-push")):
            log = (logs / f"{name}.log").open("wb")
            processes[name] = subprocess.Popen(
                compose_worker(service, queue), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        assert wait(
            lambda: all(b" ready." in (logs / f"{n}.log").read_bytes() for n in ("pull", "push")), 180, 0.5
        ), "workers did not start"

        def pull_running() -> bool:
            assert big is not None
            big.refresh_from_db(fields=["initial_sync_finished_at"])
            return cache.get(sync_lock_key(big.pk)) is not None and big.initial_sync_finished_at is None

        def stored() -> int:
            assert big is not None
            return Message.objects.filter(conversation__account=big).count()

        sync_sent = time.perf_counter()
        assert send_task_quietly(SYNC_TASK, big.pk)
        assert wait(lambda: pull_running() and stored() > 0, 300, 0.2), "the first sync did not start"

        def archive_one(conversation_id: int) -> dict[str, object]:
            before = stored()
            started = time.perf_counter()
            change = archive_conversations(alice, [conversation_id]).changes[0].pk
            done = wait(lambda: ProviderChange.objects.get(pk=change).status == ChangeStatus.DONE, 120, 0.02)
            seconds = time.perf_counter() - started
            connection.close()  # fresh reads below, whatever the isolation level
            subject = Conversation.objects.get(pk=conversation_id).subject
            with small_user.client() as mua:
                mua.select_folder(small_user.folder("archive"), readonly=True)
                at_dovecot = bool(mua.search(["SUBJECT", subject]))
            return {
                "push_s": round(seconds, 3),
                "done": done,
                "in_dovecot_archive": at_dovecot,
                "sync_still_running": pull_running(),
                "sync_messages_stored_before": before,
            }

        during = []
        for conversation_id in conversations[: args.pushes]:
            during.append(archive_one(conversation_id))
            time.sleep(1)  # spread the samples over the sync
        assert wait(lambda: not pull_running(), 1800, 1), "the first sync did not finish"
        sync_s = time.perf_counter() - sync_sent
        after = [archive_one(conversation_id) for conversation_id in conversations[args.pushes :]]
        during_s = [row["push_s"] for row in during if row["sync_still_running"]]
        result = {
            "messages_in_first_sync": args.messages,
            "first_sync_s": round(sync_s, 1),
            "first_sync_messages_stored": stored(),
            "pull_worker": " ".join(compose_worker("worker-pull", "salesinbox")[1:]),
            "push_worker": " ".join(compose_worker("worker-push", "salesinbox")[1:]),
            "pushes_during_sync": during,
            "pushes_during_sync_that_finished_while_sync_ran": len(during_s),
            "push_during_sync_median_s": round(statistics.median(during_s), 3) if during_s else None,
            "push_during_sync_max_s": round(max(during_s), 3) if during_s else None,
            "pushes_after_sync": after,
            "push_idle_median_s": round(statistics.median(r["push_s"] for r in after), 3),  # type: ignore[misc]
            "push_idle_max_s": round(max(r["push_s"] for r in after), 3),  # type: ignore[type-var]
            "load_average": round(os.getloadavg()[0], 2),
        }
        print(
            f"first sync of {args.messages:,}: {result['first_sync_s']} s; pushes during it: "
            f"{[r['push_s'] for r in during]} s (sync still running: {[r['sync_still_running'] for r in during]}); "
            f"after it: {[r['push_s'] for r in after]} s; load {result['load_average']}",
            file=sys.stderr,
        )
        print(json.dumps(result))
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        if big is not None:
            cache.delete(sync_lock_key(big.pk))
        server.cleanup()


if __name__ == "__main__":
    main()
