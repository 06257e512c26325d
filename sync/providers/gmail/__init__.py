"""The Gmail adapter: Gmail accounts through the Gmail API.

A package of the same shape as the other providers: ``auth`` (OAuth tokens, what Google's
refusals mean), ``client`` (transport, calls, HTTP batches, streamed answers, typed errors),
``labels`` (what is mail, which folder), ``pull`` (first / incremental sync, reconcile after a
lost cursor, deletions on positive evidence) and ``push`` (archive, unarchive, trash);
``attachment_data`` (an attachments.get answer decoded as it streams) imports none of them.
The modules import each other in that order only; nothing imports this package's ``__init__``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from inbox.models import Attachment, MailAccount, ProviderRef
from sync.providers.base import Checkpoint, PullReport, PushRequest, PushResult, SendRequest
from sync.providers.gmail.attachment_data import decode_data_field
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
        in a JSON answer; that answer is streamed (``GmailClient.stream``) and the string
        decoded as it arrives (``attachment_data.decode_data_field``), so neither the answer
        nor the file is ever whole in memory. Files are at most ``ATTACHMENT_MAX_BYTES``
        (checked before the call, and again on the bytes as they come)."""
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
        attachment_id = str(body.get("attachmentId"))
        request = users.messages().attachments().get(userId="me", messageId=ref.key, id=attachment_id)
        yield from decode_data_field(self.client.stream(request))

    def send(self, request: SendRequest, checkpoint: Checkpoint) -> dict[str, object]:
        return send_message(self.client, request, checkpoint)


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
