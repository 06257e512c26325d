"""Start a real Celery worker process against the test database and the Redis broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def worker_queues(base: str, kinds: tuple[str, ...] = ("push", "pull")) -> str:
    """The ``-Q`` value for a worker on ``base``'s queues: the base queue and one per kind
    of work (config/celery.py routes pushes and pulls to ``<base>.push`` / ``<base>.pull``)."""
    from config.celery import queue_name

    return ",".join([base, *(queue_name(kind, base) for kind in kinds)])


def purge_queue() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        for name in worker_queues(app.conf.task_default_queue).split(","):
            conn.default_channel.queue_purge(name)


@contextmanager
def unique_queue(prefix: str = "test") -> Iterator[str]:
    """Route this process's tasks to a queue of its own (pass it to ``running_worker``), so
    parallel test runs on one Redis never take each other's messages."""
    from config.celery import app

    name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = name
    try:
        yield name
    finally:
        app.conf.task_default_queue = previous
        with app.connection_for_write() as conn:
            for queue in worker_queues(name).split(","):
                conn.default_channel.queue_delete(queue)


@contextmanager
def running_worker(
    *,
    settings_module: str = "config.settings",
    log_path: Path | None = None,
    timeout: float = 60,
    queue: str | None = None,
    kinds: tuple[str, ...] = ("push", "pull"),
    name: str = "test",
    processes: int = 0,
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker on the same broker and queues as this test process, on the test database.

    By default it consumes pushes and pulls (as the demo's single worker does); ``kinds``
    narrows it to one pool, as in production. It runs tasks in its own process (``solo``)
    unless ``processes`` asks for Celery's prefork pool of that many processes, as
    docker-compose.yml's workers run them (daemonic processes: no children of their own)."""
    from config.celery import app

    queue = queue or app.conf.task_default_queue
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": queue,
        "PYTHONPATH": str(ROOT),
    }
    log_path = log_path or ROOT / "var" / f"test-worker-{os.getpid()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            *(["--pool=prefork", f"--concurrency={processes}"] if processes else ["--pool=solo"]),
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            worker_queues(queue, kinds),
            "-n",
            f"{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while b" ready." not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
