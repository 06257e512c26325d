"""The Celery app: JSON only, late acks, one message at a time per worker process.

Every user action that must reach a provider is a row in the database outbox first;
Celery messages are only nudges. A lost message therefore costs a delay (the beat
sweeper re-nudges), never an action.

Two queues, two worker pools (docker-compose.yml): ``<CELERY_QUEUE>.push`` carries users'
actions and the short periodic tasks, ``<CELERY_QUEUE>.pull`` carries mailbox syncs, which
can run for many minutes on a first sync. A push never waits behind a pull.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("salesinbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

PUSH = "push"
PULL = "pull"
# Tasks by name (inbox sends them by name and never imports sync). schedule_due_syncs only
# fans out sync messages: it runs with the pushes so a pull pool busy with long first syncs
# does not hold back the schedule of every other mailbox.
TASK_QUEUES: dict[str, str] = {
    "sync.push_changes": PUSH,
    "sync.sweep_outbox": PUSH,
    "sync.schedule_due_syncs": PUSH,
    "sync.sync_account": PULL,
}


def queue_name(kind: str, base: str | None = None) -> str:
    """The broker queue for a kind of work: ``salesinbox.push`` and ``salesinbox.pull`` by
    default. Derived from the default queue at call time, so a test that gives its process
    a queue of its own (tests/worker.py) gets push and pull queues of its own too."""
    return f"{base or app.conf.task_default_queue}.{kind}"


def route_task(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any
) -> dict[str, str] | None:
    """Celery router (CELERY_TASK_ROUTES): unknown tasks stay on the default queue."""
    kind = TASK_QUEUES.get(name)
    return {"queue": queue_name(kind)} if kind else None
