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
        ``messages.attachments.get``. Gmail answers the whole part as one base64url JSON
        string: unlike IMAP and Graph this cannot be streamed. Memory is bounded per file
        instead: the answer is parsed once (about 2.7 times the file's size while the JSON is
        read, then the base64 text alone, 1.33 times), and it is decoded and handed on in
        ``DECODE_CHUNK`` slices, so the decoded file never sits whole beside it. Files are
        at most ``ATTACHMENT_MAX_BYTES`` (checked before the call) and a Gmail message at
        most 50 MB."""
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
        answer = self.client.call(
            users.messages()
            .attachments()
            .get(userId="me", messageId=ref.key, id=str(body.get("attachmentId")))
        )
        text = str(answer.pop("data", "") or "")
        answer.clear()
        yield from decode_base64url(text)

    def send(self, request: SendRequest, checkpoint: Checkpoint) -> dict[str, object]:
        return send_message(self.client, request, checkpoint)


# Base64url characters decoded at a time (a multiple of 4): 1 MB of file per slice.
DECODE_CHUNK = 4 * 350_000


def decode_base64url(text: str) -> Iterator[bytes]:
    """Gmail's base64url (padding optional) decoded slice by slice."""
    text = text.strip()
    for start in range(0, len(text), DECODE_CHUNK):
        piece = text[start : start + DECODE_CHUNK]
        try:
            yield base64.urlsafe_b64decode(piece + "=" * (-len(piece) % 4))
        except (binascii.Error, ValueError) as exc:
            # Never keep a file with a hole in it: the download fails and can be tried again.
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
