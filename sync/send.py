"""Sending one message of the outbox (a ``send`` change), exactly once.

The worker first takes the message for sending with a conditional UPDATE (scheduled →
sending) that Undo's own conditional UPDATE excludes, so an undone message never leaves.
Each stage the adapter reaches is committed at once through ``checkpoint``; a retry — after
an error or a killed worker — hands the adapter that stage, and the adapter looks where the
provider files sent mail for the app's Message-ID before it sends anything again:

* nothing recorded → not handed to the server yet → send (after looking in Sent on a retry);
* ``data_sent`` (DATA given, no answer seen) → found in Sent: done; else it may have
  arrived: "not sent" with that reason, and only the user's Retry sends again;
* ``accepted`` → the server took it: only file it in Sent (if not there already).
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from inbox.models import AccountStatus, MailAccount, OutgoingMessage, ProviderChange, SendState
from inbox.services.mailboxes import set_account_status
from inbox.services.outbox import (
    complete_change,
    fail_change,
    release_changes,
    retry_change,
    throttle_change,
)
from sync.errors import ProviderAuthError, ProviderPermanentError, ProviderTemporaryError
from sync.providers.base import SendAmbiguous, SendRequest

logger = logging.getLogger(__name__)

NO_SEND = "This kind of mailbox cannot send from the app yet."


def _set(outgoing_id: int, **fields: object) -> None:
    OutgoingMessage.objects.filter(pk=outgoing_id).update(**fields)


def send_change(account: MailAccount, adapter: object, change: ProviderChange) -> str:
    """Run one claimed send change; returns "done", "retrying", "failed" or "waiting"."""
    ref = (change.refs or [{}])[0]
    outgoing_id = int(ref.get("outgoing_id") or 0)
    taken = OutgoingMessage.objects.filter(
        pk=outgoing_id, state__in=[SendState.SCHEDULED, SendState.SENDING]
    ).update(state=SendState.SENDING)
    outgoing = OutgoingMessage.objects.filter(pk=outgoing_id).select_related("message").first()
    if not taken or outgoing is None:
        # Undone (or already finished by an earlier attempt): nothing to send.
        state = outgoing.state if outgoing is not None else "gone"
        complete_change(change, {"skipped": f"the message is {state}"})
        return "done"
    send = getattr(adapter, "send", None)
    if send is None:
        _set(outgoing.pk, state=SendState.FAILED, error=NO_SEND)
        fail_change(change, NO_SEND)
        return "failed"
    request = SendRequest(
        change_id=change.pk,
        outgoing_id=outgoing.pk,
        raw=bytes(outgoing.raw),
        envelope_from=account.address,
        recipients=list(outgoing.recipients),
        message_id=outgoing.message.message_id,
        stage=outgoing.stage,
        retry=change.attempts > 1 or bool(outgoing.stage),
        thread_id=outgoing.thread_id,
        bcc=list(outgoing.bcc or []),
        attempt=change.attempts,
        progress=dict(outgoing.result or {}),
    )

    def checkpoint(stage: str, progress: dict[str, Any] | None = None) -> None:
        if progress is None:
            _set(outgoing.pk, stage=stage)
        else:
            _set(outgoing.pk, stage=stage, result=progress)  # until sent, result is the progress

    try:
        details = send(request, checkpoint)
    except ProviderAuthError as exc:
        release_changes([change], f"waiting for the account to be reconnected: {exc}")
        set_account_status(account, AccountStatus.NEEDS_REAUTH, str(exc))
        _set(outgoing.pk, error=f"Waiting for the mailbox to be reconnected: {exc}")
        return "waiting"
    except ProviderTemporaryError as exc:
        if exc.retry_after is not None or exc.throttled:
            throttle_change(change, str(exc), retry_after=exc.retry_after)
        elif not retry_change(change, str(exc)):
            _set(outgoing.pk, state=SendState.FAILED, error=change.last_error)
            return "failed"
        _set(outgoing.pk, error=f"Retrying: {exc}")
        return "retrying"
    except SendAmbiguous as exc:
        reason = str(exc)
        _set(outgoing.pk, state=SendState.FAILED, error=reason)
        fail_change(change, reason)
        return "failed"
    except ProviderPermanentError as exc:
        _set(outgoing.pk, state=SendState.FAILED, error=str(exc))
        fail_change(change, str(exc))
        return "failed"
    except Exception as exc:
        logger.exception("send %s of account %s failed unexpectedly", outgoing.pk, account.pk)
        if retry_change(change, f"unexpected error: {exc!r}"):
            return "retrying"
        _set(outgoing.pk, state=SendState.FAILED, error=change.last_error)
        return "failed"
    _set(outgoing.pk, state=SendState.SENT, error="", sent_at=timezone.now(), result=details)
    complete_change(change, details)
    return "done"
