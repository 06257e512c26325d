"""Sending through the Gmail API: ``users.messages.send`` with the conversation's
``threadId``, the whole message uploaded as ``message/rfc822`` through a resumable media
upload (``/upload/gmail/v1/users/me/messages/send?uploadType=resumable``). Gmail files it in
Sent itself (label SENT) and keeps the app's Message-ID, so the next pull recognises it.

Why always the media upload: the JSON request with ``raw`` is a "simple" request, which
Google limits to about 5 MB, while the upload takes messages up to 35 MB (the app refuses a
larger one when it is queued, ``inbox.services.send_limits``). And an upload session
completes once: httplib2 sends a request again by itself when the connection closes before
the answer (the test suite shows a simple send so going out twice), while a repeated PUT to a
completed session gets the same message back and sends nothing.

Exactly once: before any retry, ``messages.list q=rfc822msgid:<id>`` asks whether Gmail has
it already (found → done). ``data_sent`` is committed before the call; a definite refusal
(4xx, 429) clears it, an unanswered call (5xx, time-out) leaves it, and a retry that then
does not find the message stops as "may have been sent" instead of sending it again.
"""

from __future__ import annotations

import io

from googleapiclient.http import MediaIoBaseUpload

from inbox.models import SendStage
from sync.errors import ProviderTemporaryError
from sync.providers.base import Checkpoint, SendAmbiguous, SendRequest, with_bcc
from sync.providers.gmail.client import GmailClient, GmailRateLimited, GmailServerError

# Bytes per PUT of the upload (a multiple of 256 KB, as Google requires): a 35 MB message
# goes in five requests, each answered 308 until the last.
UPLOAD_CHUNK = 8 * 1024 * 1024


class _ChunkBytes(MediaIoBaseUpload):
    """The upload handing each chunk over as bytes, not as a slice of the stream
    (``has_stream`` is MediaUpload's own switch for that): httplib2 repeats a request whose
    connection closed before the answer, and a stream slice would be empty the second time
    (the request then hangs until its time-out); bytes go again whole."""

    def has_stream(self) -> bool:
        return False


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
    metadata: dict[str, object] = {}
    if request.thread_id:
        metadata["threadId"] = request.thread_id
    media = _ChunkBytes(
        io.BytesIO(with_bcc(request.raw, request.bcc)),
        mimetype="message/rfc822",
        chunksize=UPLOAD_CHUNK,
        resumable=True,
    )
    call = client.upload(client.users.messages().send(userId="me", body=metadata, media_body=media))
    checkpoint(SendStage.DATA_SENT)
    try:
        answer = client.call(call)
    except GmailRateLimited:
        checkpoint(SendStage.NONE)  # "slow down": definitely not sent
        raise
    except (GmailServerError, ProviderTemporaryError):
        raise  # unanswered: data_sent stays, the retry looks in Sent first
    except Exception:
        checkpoint(SendStage.NONE)  # a definite refusal (400, 403, 413): nothing left
        raise
    checkpoint(SendStage.FILED)  # Gmail files it in Sent itself
    return {"gmail_id": answer.get("id", ""), "thread_id": answer.get("threadId", "")}
