"""Pulling one account: run its adapter, record the outcome on the account."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from inbox.models import AccountStatus, MailAccount
from inbox.services.mailboxes import (
    claim_due_mailboxes,
    due_mailboxes,
    record_sync_outcome,
    set_account_status,
)
from sync.errors import ProviderAuthError, ProviderError, ProviderTemporaryError
from sync.locks import acquire_sync_lock, release_sync_lock
from sync.providers import adapter_for
from sync.providers.base import PullReport

logger = logging.getLogger(__name__)
LOCK_SECONDS = 1800
# The longest a provider's Retry-After puts off a mailbox's next pull.
MAX_RETRY_AFTER = timedelta(hours=1)


@dataclass
class PullSummary:
    report: PullReport | None = None
    skipped_reason: str = ""
    error: str = ""

    def line(self) -> str:
        if self.skipped_reason:
            return f"skipped: {self.skipped_reason}"
        if self.error:
            return f"error: {self.error}"
        r = self.report or PullReport()
        text = (
            f"{r.created} new, {r.duplicates} already known, {r.tombstoned} deleted earlier, "
            f"{r.deleted} deleted externally, {r.quarantined} quarantined"
        )
        return text + (" — paused by the mass-delete guard" if r.paused else "")


def due_account_ids() -> list[int]:
    """Due mailboxes, read only (the command and checks); beat claims them instead."""
    return list(due_mailboxes(timezone.now()).values_list("id", flat=True))


def claim_due_account_ids(now: datetime | None = None) -> list[int]:
    """Due mailboxes, each claimed for as long as the sync lock may be held."""
    return claim_due_mailboxes(lease=timedelta(seconds=LOCK_SECONDS), now=now)


def pull_account(account_id: int) -> PullSummary:
    account = MailAccount.objects.select_related("company").filter(pk=account_id).first()
    if account is None:
        return PullSummary(skipped_reason="no such account")
    if not account.syncs_with_provider:
        return PullSummary(skipped_reason="email sync is off for this mailbox or plan")
    if account.status != AccountStatus.ACTIVE:
        return PullSummary(skipped_reason=f"account is {account.get_status_display().lower()}")
    now = timezone.now()
    summary = PullSummary()
    synced_at, error = account.last_sync_at, account.last_sync_error
    next_sync_at = now + settings.SYNC_INTERVAL
    try:
        summary.report = adapter_for(account).pull()
        synced_at, error = now, ""
    except ProviderAuthError as exc:
        set_account_status(account, AccountStatus.NEEDS_REAUTH, str(exc))
        summary.error = str(exc)
    except ProviderTemporaryError as exc:
        summary.error = str(exc)
        error = f"temporary: {exc}"
        if exc.retry_after:
            # The provider said when to come back (a 429's Retry-After): asking sooner only
            # earns another 429. Capped: a wrong header must not stop a mailbox for days.
            wait = timedelta(seconds=min(exc.retry_after, MAX_RETRY_AFTER.total_seconds()))
            next_sync_at = max(next_sync_at, timezone.now() + wait)
    except ProviderError as exc:
        summary.error = str(exc)
        error = str(exc)
    record_sync_outcome(account, synced_at=synced_at, error=error, next_sync_at=next_sync_at)
    return summary


def pull_account_once(account_id: int) -> PullSummary:
    """pull_account, but never two at a time for one account (task, command or beat).

    The lock (sync/locks.py, Redis in production) has an owner token: a second caller gets
    "already running" instead of racing the first over the same cursors, and a pull that
    outlived its lock never releases the lock of the pull that took over.
    """
    token = acquire_sync_lock(account_id, seconds=LOCK_SECONDS)
    if token is None:
        return PullSummary(skipped_reason="a sync of this account is already running")
    try:
        return pull_account(account_id)
    finally:
        release_sync_lock(account_id, token)
