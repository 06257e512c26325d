"""Thin Celery tasks: ids in, domain code, safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from inbox.services.nudge import PUSH_TASK, SYNC_TASK, send_task_quietly
from inbox.services.outbox import overdue_account_ids
from sync.push import push_account

logger = logging.getLogger(__name__)


@shared_task(name=PUSH_TASK)
def push_changes(account_id: int) -> str:
    return push_account(account_id).line()


@shared_task(name="sync.sweep_outbox")
def sweep_outbox() -> int:
    """Re-nudge accounts whose changes are overdue: a lost message or a dead worker
    delays a user's action, never loses it."""
    ids = overdue_account_ids()
    for account_id in ids:
        send_task_quietly(PUSH_TASK, account_id)
    return len(ids)


@shared_task(name=SYNC_TASK)
def sync_account(account_id: int) -> str:
    from sync.pull import pull_account_once

    # One sync at a time per account: a second one waits for the next beat instead.
    return pull_account_once(account_id).line()


@shared_task(name="sync.schedule_due_syncs")
def schedule_due_syncs() -> int:
    """Beat, every minute: one pull message per due mailbox, each claimed first (so a busy
    or stopped pull pool never piles up a second pull of the same mailbox)."""
    from sync.pull import claim_due_account_ids

    ids = claim_due_account_ids()
    for account_id in ids:
        send_task_quietly(SYNC_TASK, account_id)
    return len(ids)
