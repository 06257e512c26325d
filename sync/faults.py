"""One message never stalls a mailbox: the retry → quarantine rule every provider's pull shares.

When a provider refuses to return one message (IMAP ``NO`` to a FETCH, a UID left out of
the answer; a Gmail ``messages.get`` or Graph ``$value`` error for that id), the pull calls
``record_fetch_failure`` and moves its cursor on for everything else. The message is then
"retrying": ``fetch_retries_due`` hands its key (and the provider's locator) back to a later
pull once its backoff has passed, and ``store_*`` clears the entry when it finally arrives.
After ``FETCH_RETRY_MAX_ATTEMPTS`` refusals it is "quarantined" with the last reason and is
no longer asked for on every pull; nothing is skipped silently — both states are listed on
the mailbox status page.

Messages that arrive but cannot be parsed or stored are quarantined at once
(``sync.store.quarantine``): asking the provider again would return the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inbox.models import MailAccount
from sync.models import FaultState, QuarantinedMessage, UnplacedMessage

BACKOFF_CAP = timedelta(hours=6)


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the ``attempts``-th refusal: base, 2×base, 4×base … at most 6 hours."""
    base = timedelta(seconds=settings.FETCH_RETRY_BASE_SECONDS)
    return min(base * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def record_fetch_failure(
    account: MailAccount,
    key: str,
    reason: str,
    *,
    locator: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> QuarantinedMessage:
    """Count one more refusal of the message ``key``: retrying with backoff, or quarantined
    once it reached ``FETCH_RETRY_MAX_ATTEMPTS``. ``locator`` is what the provider's pull
    needs to ask for it again (kept from the first failure when not given)."""
    now = now or timezone.now()
    key = key[:500]
    with transaction.atomic():
        fault = (
            QuarantinedMessage.objects.select_for_update().filter(account=account, provider_key=key).first()
        )
        if fault is None:
            fault = QuarantinedMessage(account=account, provider_key=key, attempts=0, created_at=now)
        elif fault.state == FaultState.QUARANTINED and fault.attempts >= settings.FETCH_RETRY_MAX_ATTEMPTS:
            # Already given up on; a pull that asks again anyway (a full resync) changes nothing.
            return fault
        fault.attempts += 1
        fault.reason = reason[:5000]
        fault.updated_at = now
        if locator is not None:
            fault.locator = dict(locator)
        if fault.attempts >= settings.FETCH_RETRY_MAX_ATTEMPTS:
            fault.state = FaultState.QUARANTINED
            fault.next_retry_at = None
        else:
            fault.state = FaultState.RETRYING
            fault.next_retry_at = now + retry_delay(fault.attempts)
        fault.save()
    return fault


def fetch_retries_due(
    account: MailAccount, *, key_prefix: str = "", now: datetime | None = None
) -> list[QuarantinedMessage]:
    """Retrying messages whose backoff has passed (oldest first); ``key_prefix`` narrows them
    to one folder or provider namespace (e.g. ``"imap:INBOX:"``)."""
    rows = QuarantinedMessage.objects.filter(
        account=account, state=FaultState.RETRYING, next_retry_at__lte=now or timezone.now()
    )
    if key_prefix:
        rows = rows.filter(provider_key__startswith=key_prefix)
    return list(rows.order_by("next_retry_at", "pk").defer("raw"))


def retrying_keys(account: MailAccount, *, key_prefix: str = "") -> set[str]:
    """Every key still being retried, due or not (a pull must not treat them as gone)."""
    rows = QuarantinedMessage.objects.filter(account=account, state=FaultState.RETRYING)
    if key_prefix:
        rows = rows.filter(provider_key__startswith=key_prefix)
    return set(rows.values_list("provider_key", flat=True))


def clear_fault(account: MailAccount, key: str) -> None:
    """The message arrived (or is gone from the provider on evidence): forget its fault."""
    QuarantinedMessage.objects.filter(account=account, provider_key=key[:500]).delete()
    cached: set[str] | None = getattr(account, "_quarantined_keys", None)
    if cached is not None:
        cached.discard(key[:500])


def account_faults(account: MailAccount, *, limit: int = 50) -> list[QuarantinedMessage]:
    """What the status page lists: retrying first, then quarantined, newest first."""
    return list(
        QuarantinedMessage.objects.filter(account=account)
        .defer("raw")
        .order_by("-state", "-updated_at")[:limit]  # "retrying" sorts after "quarantined": desc
    )


def account_unplaced(account: MailAccount, *, limit: int = 50) -> list[UnplacedMessage]:
    """Messages that left their IMAP folder and are not placed yet (not deleted: waiting for
    evidence), oldest first, with the message for its subject."""
    return list(
        UnplacedMessage.objects.filter(account=account)
        .select_related("message")
        .order_by("first_missing_at", "pk")[:limit]
    )
