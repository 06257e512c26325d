"""Sending through the Gmail API: ``users.messages.send`` with the whole message as ``raw``
(base64url) and the conversation's ``threadId``; Gmail files it in Sent itself (label SENT)
and keeps the app's Message-ID, so the next pull recognises it.

Exactly once: before any retry, ``messages.list q=rfc822msgid:<id>`` asks whether Gmail has
it already (found → done). ``data_sent`` is committed before the call; a definite refusal
(4xx, 429) clears it, an unanswered call (5xx, time-out) leaves it, and a retry that then
does not find the message stops as "may have been sent" instead of sending it again.
"""

from __future__ import annotations

import base64

from inbox.models import SendStage
from sync.errors import ProviderTemporaryError
from sync.providers.base import Checkpoint, SendAmbiguous, SendRequest, with_bcc
from sync.providers.gmail.client import GmailClient, GmailRateLimited, GmailServerError


def find_sent(client: GmailClient, message_id: str) -> str | None:
    answer = client.call(
        client.users.messages().list(
            userId="me", q=f"rfc822msgid:{message_id.strip('<>')}", includeSpamTrash=True, maxResults=5
        )
    )
    found = answer.get("messages") or []
    return str(found[0]["id"]) if found else None


def send_message(client: GmailClient, request: SendRequest, checkpoint: Checkpoint) -> dict[str, object]:
    if request.retry:
        found = find_sent(client, request.message_id)
        if found:
            checkpoint(SendStage.FILED)
            return {"found_in_sent": found}
        if request.stage == SendStage.DATA_SENT:
            raise SendAmbiguous(
                "An earlier attempt got no answer from Gmail, and the message is not in Sent yet, "
                "so it may still arrive. Check with the recipient, then Retry or Edit."
            )
    body: dict[str, object] = {"raw": base64.urlsafe_b64encode(with_bcc(request.raw, request.bcc)).decode()}
    if request.thread_id:
        body["threadId"] = request.thread_id
    checkpoint(SendStage.DATA_SENT)
    try:
        answer = client.call(client.users.messages().send(userId="me", body=body))
    except GmailRateLimited:
        checkpoint(SendStage.NONE)  # "slow down": definitely not sent
        raise
    except (GmailServerError, ProviderTemporaryError):
        raise  # unanswered: data_sent stays, the retry looks in Sent first
    except Exception:
        checkpoint(SendStage.NONE)  # a definite refusal (400, 403): nothing left
        raise
    checkpoint(SendStage.FILED)  # Gmail files it in Sent itself
    return {"gmail_id": answer.get("id", ""), "thread_id": answer.get("threadId", "")}
