"""Sending through Microsoft Graph: ``POST {mailbox}/sendMail`` with the whole message as
MIME (its base64 as a ``text/plain`` body, as Graph documents sending MIME), so the app's
Message-ID, In-Reply-To and References leave as they are; Exchange files the message in
Sent Items itself (``saveToSentItems`` cannot be turned off for MIME and is what we want).
``/me`` or, for a shared team mailbox, ``/users/{address}``: the mailbox's own path.

Exactly once — the outgoing message is marked sent only once its ``internetMessageId`` is
found in Sent Items:

* nothing recorded → send; on a retry, look in Sent Items first (found → done);
* ``data_sent`` is committed before the call. A definite refusal (4xx, 429, a sign-in
  refused) clears it: nothing left. An unanswered call (5xx, time-out, a dropped
  connection) leaves it, and the retry looks in Sent Items: found → done; not found → looks
  again on the next attempts (Exchange files a sent message a moment after its 202), then
  stops as "may have been sent" instead of sending it again; only the user's Retry does;
* ``accepted`` (Graph answered 202) → never sent again: only looked for in Sent Items,
  retrying with backoff until it shows.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from inbox.models import SendStage
from sync.errors import ProviderAuthError, ProviderPermanentError, ProviderTemporaryError
from sync.providers.base import Checkpoint, SendAmbiguous, SendRequest, with_bcc
from sync.providers.outlook.client import (
    GraphClient,
    GraphForbidden,
    GraphRequestError,
    GraphThrottled,
    quote_id,
)
from sync.providers.outlook.large_send import (
    attach,
    create_draft,
    delete_draft,
    split_files,
    still_a_draft,
    too_large_for_send_mail,
)

# Looks in Sent Items right after the 202, with these pauses before each (seconds); then the
# outbox's backoff takes over.
CONFIRM_PAUSES = (0.0, 0.5, 1.5)
# Attempts (of the change) that look again for an unanswered send before it is "ambiguous".
UNANSWERED_LOOKS = 3
NO_SEND_PERMISSION = (
    "Outlook refused to send it: this mailbox was connected before sending was allowed, or its "
    "sign-in may not send as this address. Reconnect the mailbox (Settings › Email sync), then Retry."
)


def _odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def find_sent(graph: GraphClient, message_id: str) -> str | None:
    """The Graph id of the message with this Message-ID in Sent Items, if it is there."""
    answer = graph.get_json(
        graph.url("/mailFolders/sentitems/messages"),
        params={
            "$filter": f"internetMessageId eq {_odata_string(message_id)}",
            "$select": "id,internetMessageId",
            "$top": "5",
        },
    )
    found = answer.get("value") or []
    return str(found[0]["id"]) if found else None


def send_message(graph: GraphClient, request: SendRequest, checkpoint: Checkpoint) -> dict[str, object]:
    if request.stage == SendStage.ACCEPTED:
        return _confirm(graph, request, checkpoint, pauses=(0.0,))
    if request.retry:
        found = find_sent(graph, _sent_message_id(request))
        if found:
            checkpoint(SendStage.FILED)
            return {"found_in_sent": found}
        if request.stage == SendStage.DATA_SENT:
            if request.attempt < UNANSWERED_LOOKS:
                raise ProviderTemporaryError(
                    "Outlook did not answer the last attempt; looking for the message in Sent Items again."
                )
            raise SendAmbiguous(
                "An earlier attempt got no answer from Outlook, and the message is not in Sent Items, "
                "so it may still arrive. Check with the recipient, then Retry or Edit."
            )
    mime = with_bcc(request.raw, request.bcc)
    if too_large_for_send_mail(mime):
        return _send_as_draft(graph, request, checkpoint, mime)
    _hand_over(
        graph,
        checkpoint,
        graph.url("/sendMail"),
        data=base64.b64encode(mime),
        content_type="text/plain",
        what="sending the message",
    )
    checkpoint(SendStage.ACCEPTED)
    return _confirm(graph, request, checkpoint, pauses=CONFIRM_PAUSES)


def _hand_over(graph: GraphClient, checkpoint: Checkpoint, url: str, **send: Any) -> None:
    """The request that sends (sendMail, or a draft's send), with the exactly-once rules."""
    try:
        graph.request(
            "POST",
            url,
            # Recorded right before the request leaves: a sign-in or a busy mailbox that
            # stops it earlier leaves nothing to look for.
            on_send=lambda: checkpoint(SendStage.DATA_SENT),
            **send,
        )
    except (GraphThrottled, ProviderAuthError):
        checkpoint(SendStage.NONE)  # "slow down" / sign-in refused: definitely not sent
        raise
    except GraphForbidden as exc:
        checkpoint(SendStage.NONE)
        raise ProviderPermanentError(f"{NO_SEND_PERMISSION} ({exc})") from exc
    except GraphRequestError as exc:
        checkpoint(SendStage.NONE)  # a definite refusal (400): nothing left
        raise ProviderPermanentError(f"Outlook refused to send it: {exc}") from exc
    except ProviderTemporaryError as exc:
        if _never_sent(exc):
            checkpoint(SendStage.NONE)
        raise  # unanswered (5xx, no answer): data_sent stays, the retry looks in Sent Items


def _send_as_draft(
    graph: GraphClient, request: SendRequest, checkpoint: Checkpoint, mime: bytes
) -> dict[str, object]:
    """Above 4 MB: a draft, its files uploaded, then its send (``large_send``)."""
    progress = dict(request.progress)
    draft_id = str(progress.get("draft_id") or "")
    if draft_id and not (progress.get("draft_ready") and still_a_draft(graph, draft_id)):
        delete_draft(graph, draft_id)  # half built (or gone): never sent, built again
        draft_id = ""
    if not draft_id:
        head, files = split_files(mime)
        try:
            draft = create_draft(graph, head)
            progress = {
                "draft_id": str(draft["id"]),
                "internet_message_id": str(draft.get("internetMessageId") or request.message_id),
            }
            checkpoint(SendStage.NONE, progress)
            for item in files:
                attach(graph, progress["draft_id"], item)
        except GraphRequestError as exc:  # 400, 403, 413: nothing was sent
            raise ProviderPermanentError(f"Outlook refused to send it: {exc}") from exc
        progress["draft_ready"] = True
        checkpoint(SendStage.NONE, progress)
        draft_id = progress["draft_id"]
    _hand_over(graph, checkpoint, graph.url(f"/messages/{quote_id(draft_id)}/send"), what="sending the draft")
    checkpoint(SendStage.ACCEPTED)
    return {**_confirm(graph, request, checkpoint, pauses=CONFIRM_PAUSES), "draft_id": draft_id}


def _sent_message_id(request: SendRequest) -> str:
    """The Message-ID to look for in Sent Items: the one Graph gave the draft, if any."""
    return str(request.progress.get("internet_message_id") or request.message_id)


def _never_sent(exc: ProviderTemporaryError) -> bool:
    """No connection was made (refused, or timed out connecting): nothing left."""
    cause = exc.__cause__
    if isinstance(cause, requests.ConnectTimeout):
        return True
    reason = (
        getattr(cause.args[0], "reason", None)
        if isinstance(cause, requests.ConnectionError) and cause.args
        else None
    )
    return isinstance(reason, NewConnectionError)


def _confirm(
    graph: GraphClient, request: SendRequest, checkpoint: Checkpoint, *, pauses: tuple[float, ...]
) -> dict[str, object]:
    """Graph took it (202): it is sent once it shows in Sent Items."""
    for pause in pauses:
        if pause:
            time.sleep(pause)  # Exchange files it a moment after the 202
        found = find_sent(graph, _sent_message_id(request))
        if found:
            checkpoint(SendStage.FILED)
            return {"sent_items_id": found}
    raise ProviderTemporaryError(
        "Outlook accepted the message; waiting for it to appear in Sent Items (it is not sent again)."
    )
