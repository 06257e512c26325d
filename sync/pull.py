"""Pulling one account: run its adapter, record the outcome on the account."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts import plans
from inbox.models import AccountStatus, MailAccount
from inbox.services.outbox import set_account_status
from sync.errors import ProviderAuthError, ProviderError, ProviderTemporaryError
from sync.providers import adapter_for
from sync.providers.base import PullReport

logger = logging.getLogger(__name__)


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
    return list(
        MailAccount.objects.filter(
            status=AccountStatus.ACTIVE,
            next_sync_at__lte=timezone.now(),
            company__plan__in=plans.plans_with_email_sync(),
        ).values_list("id", flat=True)
    )


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
    try:
        summary.report = adapter_for(account).pull()
        account.last_sync_error = ""
        account.last_sync_at = now
    except ProviderAuthError as exc:
        set_account_status(account, AccountStatus.NEEDS_REAUTH, str(exc))
        summary.error = str(exc)
    except ProviderTemporaryError as exc:
        summary.error = str(exc)
        account.last_sync_error = f"temporary: {exc}"
    except ProviderError as exc:
        summary.error = str(exc)
        account.last_sync_error = str(exc)
    account.next_sync_at = now + settings.SYNC_INTERVAL
    MailAccount.objects.filter(pk=account.pk).update(
        last_sync_at=account.last_sync_at,
        last_sync_error=account.last_sync_error,
        next_sync_at=account.next_sync_at,
    )
    return summary


LOCK_SECONDS = 1800


def pull_account_once(account_id: int) -> PullSummary:
    """pull_account, but never two at a time for one account (task, command or beat).

    The lock lives in the cache (Redis in production): a second caller gets "already
    running" instead of racing the first over the same cursors.
    """
    lock_key = f"sync-account-lock:{account_id}"
    if not cache.add(lock_key, "1", timeout=LOCK_SECONDS):
        return PullSummary(skipped_reason="a sync of this account is already running")
    try:
        return pull_account(account_id)
    finally:
        cache.delete(lock_key)
