"""The provider-change outbox: writing changes and their lifecycle.

pending → running (claimed, attempts + 1) → done | pending again (retry with backoff and
jitter) | failed. A change whose worker died while running is handed out again after the
lease; pushes are idempotent, so a repeat is harmless.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from accounts.models import User
from inbox.errors import NotFound
from inbox.models import (
    AuditEvent,
    ChangeKind,
    ChangeStatus,
    MailAccount,
    ProviderChange,
    ProviderRef,
)
from inbox.selectors import accessible_accounts
from inbox.services.nudge import nudge_push_after_commit


def ref_snapshots(account_id: int, message_filter: dict[str, object]) -> list[dict[str, object]]:
    rows = ProviderRef.objects.filter(account_id=account_id, **message_filter).values(
        "key", "folder", "uidvalidity", "uid", "thread_id", "message__message_id"
    )
    return [
        {
            "key": row["key"],
            "folder": row["folder"],
            "uidvalidity": row["uidvalidity"],
            "uid": row["uid"],
            "thread_id": row["thread_id"],
            "message_id": row["message__message_id"],
        }
        for row in rows
    ]


def enqueue_change(
    account: MailAccount,
    kind: ChangeKind,
    refs: list[dict[str, object]],
    *,
    actor: User | None,
    audit: AuditEvent | None,
) -> ProviderChange | None:
    """Write one outbox row (inside the caller's transaction) and nudge after commit."""
    if not refs or not account.syncs_with_provider:
        return None
    change = ProviderChange.objects.create(
        company_id=account.company_id, account=account, kind=kind, refs=refs, actor=actor, audit=audit
    )
    nudge_push_after_commit(account.pk)
    return change


def backoff_delay(attempts: int) -> timedelta:
    base = settings.OUTBOX_BACKOFF_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    capped = min(base, settings.OUTBOX_BACKOFF_MAX_SECONDS)
    # Full jitter around the capped delay keeps many accounts from retrying in lockstep.
    return timedelta(seconds=capped * random.uniform(0.5, 1.0))


def claim_changes(account_id: int, *, limit: int = 500) -> list[ProviderChange]:
    """Claim an account's due changes, oldest first, unless another worker holds it.

    Changes of one account are applied in order (archive then unarchive must not swap),
    so the account row is locked with SKIP LOCKED while claiming and nothing is claimed
    while a live claim of the same account is running.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    with transaction.atomic():
        locked = MailAccount.objects.select_for_update(skip_locked=True).filter(pk=account_id).first()
        if locked is None:
            return []
        running = ProviderChange.objects.filter(
            account_id=account_id, status=ChangeStatus.RUNNING, claimed_at__gt=now - lease
        )
        if running.exists():
            return []
        due = list(
            ProviderChange.objects.filter(account_id=account_id, next_attempt_at__lte=now)
            .filter(
                Q(status=ChangeStatus.PENDING) | Q(status=ChangeStatus.RUNNING, claimed_at__lte=now - lease)
            )
            .order_by("id")[:limit]
        )
        # Stop at the first change that is not due yet, to keep the order per account. A
        # send is ordered with nothing: one waiting out its Undo delay (or a backoff) holds
        # back no archive, and an archive waiting for a retry holds back no send.
        first_waiting = (
            ProviderChange.objects.filter(
                account_id=account_id, status=ChangeStatus.PENDING, next_attempt_at__gt=now
            )
            .exclude(kind=ChangeKind.SEND)
            .aggregate(first=Min("id"))["first"]
        )
        if first_waiting is not None:
            due = [change for change in due if change.kind == ChangeKind.SEND or change.pk < first_waiting]
        for change in due:
            change.status = ChangeStatus.RUNNING
            change.claimed_at = now
            change.attempts += 1
        ProviderChange.objects.bulk_update(due, ["status", "claimed_at", "attempts", "updated_at"])
    return due


def complete_change(change: ProviderChange, result: dict[str, object] | None = None) -> None:
    change.status = ChangeStatus.DONE
    change.done_at = timezone.now()
    change.last_error = ""
    change.result = result or {}
    change.save(update_fields=["status", "done_at", "last_error", "result", "updated_at"])


def retry_change(change: ProviderChange, error: str, *, retry_after: float | None = None) -> bool:
    """Put a change back for a later attempt (exponential backoff), or fail it when its
    attempts are used up. Returns False when it gave up (the change is now failed)."""
    if change.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        fail_change(change, f"gave up after {change.attempts} attempts: {error}")
        return False
    delay = backoff_delay(change.attempts)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    change.status = ChangeStatus.PENDING
    change.next_attempt_at = timezone.now() + delay
    change.last_error = error
    change.save(update_fields=["status", "next_attempt_at", "last_error", "updated_at"])
    return True


def throttle_change(change: ProviderChange, error: str, *, retry_after: float | None) -> None:
    """The provider said "come back in N seconds" (429/503 Retry-After): wait exactly that
    long — not the exponential backoff — and give the attempt back, so a throttling storm
    never uses up a change's attempts. A "slow down" without Retry-After (``None``) waits the
    backoff instead, still without spending the attempt."""
    delay = backoff_delay(change.attempts) if retry_after is None else timedelta(seconds=max(retry_after, 0))
    defer_change(change, error, until=timezone.now() + delay)


def record_progress(change: ProviderChange, done_keys: Iterable[str]) -> None:
    """Remember which of the change's messages are finished, so no later attempt redoes them."""
    new = [key for key in dict.fromkeys(done_keys) if key not in set(change.progress or [])]
    if not new:
        return
    change.progress = [*(change.progress or []), *new]
    change.save(update_fields=["progress", "updated_at"])


def pending_refs(change: ProviderChange) -> list[dict[str, object]]:
    """The change's refs that earlier attempts have not finished."""
    done = set(change.progress or [])
    return [ref for ref in change.refs if ref.get("key") not in done]


def defer_change(change: ProviderChange, reason: str, *, until: datetime) -> None:
    """A change that was claimed but not tried (it waits behind an earlier one): back to
    pending with its attempt given back, due when the change it waits for is."""
    change.status = ChangeStatus.PENDING
    change.attempts = max(change.attempts - 1, 0)
    change.last_error = reason
    change.next_attempt_at = until
    change.save(update_fields=["status", "attempts", "last_error", "next_attempt_at", "updated_at"])


def fail_change(change: ProviderChange, error: str, result: dict[str, object] | None = None) -> None:
    change.status = ChangeStatus.FAILED
    change.last_error = error
    change.done_at = timezone.now()
    if result is not None:
        change.result = result
    change.save(update_fields=["status", "last_error", "done_at", "result", "updated_at"])


def release_changes(changes: Iterable[ProviderChange], reason: str) -> None:
    """Hand claimed changes back untouched (e.g. the account needs re-auth): no attempt spent."""
    for change in changes:
        change.status = ChangeStatus.PENDING
        change.attempts = max(change.attempts - 1, 0)
        change.last_error = reason
        change.save(update_fields=["status", "attempts", "last_error", "updated_at"])


def retry_failed_change(actor: User, change_id: int) -> ProviderChange:
    """The user's "Retry" on a failed change: a fresh set of attempts, pushed now."""
    with transaction.atomic():
        mailboxes = Q(account_id__in=accessible_accounts(actor).values("id"))
        if actor.is_company_admin:
            # Admins look after every team mailbox of their company, member or not.
            mailboxes |= Q(account__company_id=actor.company_id, account__kind="team")
        change = (
            ProviderChange.objects.select_for_update(of=("self",)).filter(mailboxes, pk=change_id).first()
        )
        if change is None:
            raise NotFound("No such change.")
        if change.status == ChangeStatus.FAILED:
            change.status = ChangeStatus.PENDING
            change.attempts = 0
            change.next_attempt_at = timezone.now()
            change.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
            nudge_push_after_commit(change.account_id)
    return change


def overdue_account_ids(*, grace: timedelta = timedelta(seconds=20)) -> list[int]:
    """Accounts with changes due for a while (their nudge was lost) or stuck running."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    return list(
        ProviderChange.objects.filter(
            Q(status=ChangeStatus.PENDING, next_attempt_at__lte=now - grace)
            | Q(status=ChangeStatus.RUNNING, claimed_at__lte=stale_before)
        )
        .values_list("account_id", flat=True)
        .distinct()
    )
