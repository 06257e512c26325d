"""Draining the outbox of one account: claim, call the adapter, record the outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from accounts import plans
from inbox.models import AccountStatus, ChangeKind, ChangeStatus, MailAccount, ProviderChange
from inbox.services.mailboxes import set_account_status
from inbox.services.outbox import (
    claim_changes,
    complete_change,
    defer_change,
    fail_change,
    pending_refs,
    record_progress,
    release_changes,
    retry_change,
    throttle_change,
)
from inbox.services.refs import relocate_refs
from sync.errors import ProviderAuthError, ProviderPermanentError, ProviderTemporaryError
from sync.providers import adapter_for
from sync.providers.base import Outcome, PushRequest, PushResult
from sync.send import send_change

logger = logging.getLogger(__name__)

BATCH_SIZE = 200


@dataclass
class PushSummary:
    done: int = 0
    retrying: int = 0
    failed: int = 0
    skipped_reason: str = ""

    def line(self) -> str:
        text = f"{self.done} done, {self.retrying} retrying, {self.failed} failed"
        return f"{text} ({self.skipped_reason})" if self.skipped_reason else text


def push_account(account_id: int) -> PushSummary:
    summary = PushSummary()
    account = MailAccount.objects.select_related("company").filter(pk=account_id).first()
    if account is None:
        summary.skipped_reason = "no such account"
        return summary
    if not account.syncs_with_provider:
        _fail_all_pending(account, summary)
        return summary
    if account.status == AccountStatus.NEEDS_REAUTH:
        summary.skipped_reason = "the account needs to be reconnected"
        return summary
    adapter = adapter_for(account)
    while True:
        claimed = claim_changes(account.pk, limit=BATCH_SIZE)
        if not claimed:
            break
        # Each message is sent on its own (sync/send.py); a send is ordered with nothing.
        sends = [change for change in claimed if change.kind == ChangeKind.SEND]
        claimed = [change for change in claimed if change.kind != ChangeKind.SEND]
        outcomes = [send_change(account, adapter, change) for change in sends]
        for outcome in outcomes:
            _count(summary, outcome)
        if "waiting" in outcomes:
            release_changes(claimed, "waiting for the account to be reconnected")
            summary.skipped_reason = "the account needs to be reconnected"
            break
        changes: list[ProviderChange] = []
        for change in claimed:
            if pending_refs(change):
                changes.append(change)
            else:
                # Every message was finished by earlier attempts: done, no provider call.
                complete_change(change, change.result)
                summary.done += 1
        if not changes:
            continue
        by_id = {change.pk: change for change in changes}
        requests = [PushRequest(c.pk, c.kind, pending_refs(c)) for c in changes]
        try:
            results = adapter.push(requests)
        except ProviderAuthError as exc:
            release_changes(changes, f"waiting for the account to be reconnected: {exc}")
            set_account_status(account, AccountStatus.NEEDS_REAUTH, str(exc))
            summary.skipped_reason = "the account needs to be reconnected"
            break
        except ProviderTemporaryError as exc:
            for change_id, keys in exc.progress.items():
                if change_id in by_id:
                    record_progress(by_id[change_id], keys)
            # Only the oldest change was really tried; the rest wait behind it in order.
            first, *rest = changes
            until = timezone.now()
            if exc.retry_after is not None or exc.throttled:
                throttle_change(first, str(exc), retry_after=exc.retry_after)
                until = first.next_attempt_at
                summary.retrying += 1
            elif retry_change(first, str(exc)):
                until = first.next_attempt_at
                summary.retrying += 1
            else:
                summary.failed += 1
            for change in rest:
                defer_change(change, f"waiting for an earlier change: {exc}", until=until)
            summary.retrying += len(rest)
            break
        except ProviderPermanentError as exc:
            for change in changes:
                fail_change(change, str(exc))
            summary.failed += len(changes)
            continue
        except Exception as exc:
            # An adapter bug must not lose the change: keep it for a later attempt.
            logger.exception("push for account %s failed unexpectedly", account.pk)
            for change in changes:
                _retry(change, f"unexpected error: {exc!r}", summary)
            break
        _record(account, by_id, results, summary)
        if summary.retrying:
            break
    return summary


def _count(summary: PushSummary, outcome: str) -> None:
    if outcome == "done":
        summary.done += 1
    elif outcome == "failed":
        summary.failed += 1
    else:
        summary.retrying += 1


def _retry(
    change: ProviderChange,
    error: str,
    summary: PushSummary,
    retry_after: float | None = None,
    *,
    throttled: bool = False,
) -> None:
    """Retry later — by the provider's Retry-After without spending the attempt when it gave
    one, or with backoff without spending it when the provider only said "slow down", else
    with backoff — and count a change whose attempts ran out as failed."""
    if retry_after is not None or throttled:
        throttle_change(change, error, retry_after=retry_after)
        summary.retrying += 1
    elif retry_change(change, error):
        summary.retrying += 1
    else:
        summary.failed += 1


def _record(
    account: MailAccount, by_id: dict[int, ProviderChange], results: list[PushResult], summary: PushSummary
) -> None:
    reported = set()
    deferred: list[tuple[ProviderChange, PushResult]] = []
    for result in results:
        change = by_id[result.change_id]
        reported.add(result.change_id)
        if result.relocated:
            relocate_refs(account, result.relocated)
        if result.done_keys:
            record_progress(change, result.done_keys)
        if result.outcome == Outcome.DONE:
            complete_change(change, {**(change.result or {}), **result.details})
            summary.done += 1
        elif result.outcome == Outcome.RETRY:
            _retry(change, result.error, summary, result.retry_after, throttled=result.throttled)
        elif result.outcome == Outcome.DEFERRED:
            deferred.append((change, result))
        else:
            fail_change(change, result.error, result.details)
            summary.failed += 1
    for change_id, change in by_id.items():
        if change_id not in reported:
            _retry(change, "the adapter did not report on this change", summary)
    if deferred:
        # Due together with the latest change they wait for, never before it.
        retried = [
            c.next_attempt_at for c in by_id.values() if c.status == ChangeStatus.PENDING and c.pk in reported
        ]
        until = max([*retried, timezone.now()])
        for change, result in deferred:
            if result.retry_after:
                until = max(until, timezone.now() + timedelta(seconds=result.retry_after))
            defer_change(change, result.error, until=until)
            summary.retrying += 1


def _fail_all_pending(account: MailAccount, summary: PushSummary) -> None:
    if account.is_connected:
        reason = plans.no_sync_reason(account.company) + " Then retry."
    else:
        reason = "this mailbox is not connected to a provider"
    for change in ProviderChange.objects.filter(
        account_id=account.pk, status__in=[ChangeStatus.PENDING, ChangeStatus.RUNNING]
    ):
        fail_change(change, reason)
        summary.failed += 1
    summary.skipped_reason = reason
