"""Wake the worker after commit. inbox never imports sync: tasks are sent by name.

A nudge that cannot reach the broker is only logged: the change is already committed in
the outbox and the beat sweeper picks it up.
"""

from __future__ import annotations

import logging

from django.db import transaction

logger = logging.getLogger(__name__)

PUSH_TASK = "sync.push_changes"
SYNC_TASK = "sync.sync_account"


def send_task_quietly(name: str, account_id: int, *, countdown: float | None = None) -> bool:
    from config.celery import app

    try:
        app.send_task(
            name,
            args=[account_id],
            countdown=countdown,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        )
    except Exception:  # the broker is down: the sweeper will re-nudge from the database
        logger.warning("could not send %s for account %s; the sweeper will retry", name, account_id)
        return False
    return True


def nudge_push_after_commit(account_id: int, *, countdown: float | None = None) -> None:
    """``countdown``: for a change due later (a send waiting out its Undo delay)."""
    transaction.on_commit(lambda: send_task_quietly(PUSH_TASK, account_id, countdown=countdown))


def nudge_sync_after_commit(account_id: int) -> None:
    transaction.on_commit(lambda: send_task_quietly(SYNC_TASK, account_id))
