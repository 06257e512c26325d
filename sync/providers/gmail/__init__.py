"""The Gmail adapter: Gmail accounts through the Gmail API.

A package of the same shape as the other providers: ``auth`` (OAuth tokens, what Google's
refusals mean), ``client`` (transport, calls, HTTP batches, typed errors), ``labels`` (what is
mail, which folder), ``pull`` (first / incremental sync, reconcile after a lost cursor,
deletions on positive evidence) and ``push`` (archive, unarchive, trash). The modules import
each other in that order only; nothing imports this package's ``__init__``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from inbox.models import Attachment, MailAccount, ProviderRef
from sync.errors import ProviderPermanentError
from sync.providers.base import Checkpoint, PullReport, PushRequest, PushResult, SendRequest
from sync.providers.gmail.client import GmailClient, GmailNotFound
from sync.providers.gmail.pull import GmailPull, decode_raw
from sync.providers.gmail.push import push_changes
from sync.providers.gmail.send import send_message

__all__ = ["GmailAdapter"]


class GmailAdapter:
    def __init__(self, account: MailAccount) -> None:
        self.account = account
        self._client: GmailClient | None = None

    @property
    def client(self) -> GmailClient:
        # Built on first use: a missing refresh token surfaces as ProviderAuthError
        # inside push/pull, where the caller turns it into "needs reconnecting".
        if self._client is None:
            self._client = GmailClient(self.account)
        return self._client

    def push(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        if not requests:
            return []
        return push_changes(self.client, requests)

    def pull(self) -> PullReport:
        return GmailPull(self.account, self.client).run()

    def fetch_attachment(self, ref: ProviderRef, attachment: Attachment) -> Iterator[bytes]:
        """``messages.get(format=full)`` names the part's current ``attachmentId`` (Gmail's
        ids are not stable between calls, so a stored one is not trusted), then
        ``messages.attachments.get``. Gmail answers the whole part as one base64url string
        in a JSON answer: unlike IMAP and Graph this cannot be streamed. Memory is bounded
        per file instead: the answer's bytes are kept as they came (``call_raw``, about 1.33
        times the file's size), never also as text or parsed JSON, and the base64url in
        them is decoded and handed on in ``DECODE_CHUNK`` slices, so the decoded file never
        sits whole beside it. Files are at most ``ATTACHMENT_MAX_BYTES`` (checked before
        the call) and a Gmail message at most 50 MB."""
        users = self.client.users
        resource = self.client.call(users.messages().get(userId="me", id=ref.key, format="full"))
        part = find_section(resource.get("payload") or {}, attachment.part) if attachment.part else None
        del resource
        if part is None:
            raise GmailNotFound(f"Gmail no longer has part {attachment.part} of this email.")
        body = part.get("body") or {}
        if body.get("data"):
            yield decode_raw(body["data"])
            return
        answer = self.client.call_raw(
            users.messages()
            .attachments()
            .get(userId="me", messageId=ref.key, id=str(body.get("attachmentId")))
        )
        yield from decode_data_field(answer)

    def send(self, request: SendRequest, checkpoint: Checkpoint) -> dict[str, object]:
        return send_message(self.client, request, checkpoint)


# Base64url characters decoded at a time (a multiple of 4): 1 MB of file per slice.
DECODE_CHUNK = 4 * 350_000


_DATA_FIELD = re.compile(rb'"data"\s*:\s*"')
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def decode_data_field(answer: bytes) -> Iterator[bytes]:
    """The ``data`` of a MessagePartBody JSON answer (``{"attachmentId": …, "size": …,
    "data": "<base64url>"}``), decoded slice by slice straight from the answer's bytes.
    Base64url has no quote or backslash, so the value ends at the next quote; anything that
    is not base64url fails the download (a kept file never has a hole in it)."""
    found = _DATA_FIELD.search(answer)
    if found is None:
        try:
            empty = int(json.loads(answer or b"{}").get("size") or 0) == 0  # small: no data in it
        except (ValueError, TypeError, AttributeError):
            empty = False
        if empty:
            return  # an empty file: Gmail leaves "data" out
        raise ProviderPermanentError("Gmail answered without the attachment's data.")
    start = found.end()
    end = answer.find(b'"', start)
    if end < 0:
        raise ProviderPermanentError("Gmail's answer ended inside the attachment's data.")
    view = memoryview(answer)
    for offset in range(start, end, DECODE_CHUNK):
        piece = bytes(view[offset : min(offset + DECODE_CHUNK, end)]).translate(_URLSAFE)
        try:
            yield base64.b64decode(piece + b"=" * (-len(piece) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProviderPermanentError(f"Gmail sent an attachment that is not valid base64: {exc}") from exc


def find_section(payload: dict[str, Any], section: str) -> dict[str, Any] | None:
    """The part of Gmail's ``format=full`` tree at an IMAP body section ("2.1"); Gmail
    numbers from 0 and calls a single-part body "" — this walks the tree instead of
    translating, as ``sync.mime`` numbers it."""
    node = payload
    for index, step in enumerate(section.split(".")):
        children = node.get("parts") or []
        if not children:
            # A single-part body (or an encapsulated one) is its own part 1.
            return node if step == "1" and index == len(section.split(".")) - 1 else None
        if not step.isdigit() or not 0 < int(step) <= len(children):
            return None
        node = children[int(step) - 1]
    return node
