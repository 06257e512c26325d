"""Outlook / Microsoft 365 through Microsoft Graph: the adapter behind ``settings.SYNC_ADAPTERS``.

A package of the same shape as the other providers, its modules importing each other in
this order only (nothing imports this ``__init__``):

* ``auth``: msal with a token cache per account; what Microsoft's refusals mean.
* ``client``: Graph over requests with immutable ids, ``$batch``, typed errors, and the
  per-mailbox limit of 4 concurrent requests shared by pushes and pulls.
* ``folders``: the well-known folders (Inbox, Archive, Deleted Items, Recoverable Items …).
* ``pull``: per-folder ``delta`` rounds, deletions on positive evidence, the reconcile after
  a lost cursor, retry → quarantine of messages Graph refuses to return.
* ``push``: archive / unarchive / trash as moves to ``archive`` / ``inbox`` / ``deleteditems``.
* ``read_state``: read / unread as ``isRead`` PATCHes.
* ``send``: ``sendMail`` with the MIME, confirmed by the Message-ID in Sent Items.

A personal account is the signed-in user's own mailbox (``/me``). A team account is either
its own sign-in (``/me``) or, with ``config["shared_mailbox"]`` set, an Exchange shared
mailbox opened with a member's delegated sign-in (``/users/{address}``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import requests
from django.conf import settings

from inbox.models import Attachment, MailAccount, ProviderRef
from sync.errors import ProviderPermanentError, ProviderTemporaryError
from sync.providers.base import Checkpoint, PullReport, PushRequest, PushResult, SendRequest
from sync.providers.outlook.auth import GraphTokens, graph_session
from sync.providers.outlook.client import GraphClient, GraphNotFound, quote_id
from sync.providers.outlook.folders import FolderMap, load_folders, mailbox_path
from sync.providers.outlook.pull import OutlookPull
from sync.providers.outlook.push import push_changes
from sync.providers.outlook.read_state import push_read_state
from sync.providers.outlook.send import send_message

__all__ = ["OutlookAdapter"]


class OutlookAdapter:
    def __init__(self, account: MailAccount) -> None:
        self.account = account
        self.session = graph_session()
        self.tokens = GraphTokens(account, self.session)
        self.graph = GraphClient(
            self.tokens,
            self.session,
            settings.GRAPH_API_ENDPOINT,
            mailbox_path(account),
            limiter_key=f"outlook:{account.pk}",
        )
        self._folders: FolderMap | None = None

    def folders(self) -> FolderMap:
        if self._folders is None:
            self._folders = load_folders(self.account, self.graph)
        return self._folders

    def push(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        if not requests:
            return []
        # Read state (PATCH isRead) is ordered with nothing the moves do: pushed on its own.
        reads = [r for r in requests if r.kind in ("read", "unread")]
        moves = [r for r in requests if r.kind not in ("read", "unread")]
        results = push_read_state(self.graph, reads) if reads else []
        if moves:
            results += push_changes(self.graph, self.folders(), moves)
        return results

    def pull(self) -> PullReport:
        return OutlookPull(self.account, self.graph, self.folders()).run()

    def send(self, request: SendRequest, checkpoint: Checkpoint) -> dict[str, object]:
        return send_message(self.graph, request, checkpoint)

    def fetch_attachment(self, ref: ProviderRef, attachment: Attachment) -> Iterator[bytes]:
        """``/messages/{id}/attachments`` finds Graph's id for the part (its content id, else
        its name and size, else its place among the attachments), then
        ``/attachments/{id}/$value`` streams the bytes."""
        graph_id = attachment.provider_id or self._attachment_id(ref, attachment)
        try:
            yield from self._attachment_value(ref, graph_id)
        except GraphNotFound:
            # The id kept at import (a message too large to import whole) is unknown now:
            # find the attachment again in Graph's list, once, before giving up.
            if not attachment.provider_id or (found := self._attachment_id(ref, attachment)) == graph_id:
                raise
            yield from self._attachment_value(ref, found)

    def _attachment_value(self, ref: ProviderRef, graph_id: str) -> Iterator[bytes]:
        url = self.graph.url(f"/messages/{quote_id(ref.key)}/attachments/{quote_id(graph_id)}/$value")
        with self.graph.stream(url, what="an attachment") as response:
            try:
                yield from response.iter_content(chunk_size=256 * 1024)
            except requests.RequestException as exc:
                raise ProviderTemporaryError(f"Graph dropped an attachment download: {exc}") from exc

    def _attachment_id(self, ref: ProviderRef, attachment: Attachment) -> str:
        listed = self.graph.get_json(
            self.graph.url(f"/messages/{quote_id(ref.key)}/attachments"),
            params={"$select": "id,name,contentType,size,isInline,contentId"},
        ).get("value", [])
        siblings = list(Attachment.objects.filter(message_id=attachment.message_id).order_by("position"))
        found = match_attachment(listed, attachment, siblings)
        if found is None:
            raise ProviderPermanentError("Outlook no longer lists this attachment.")
        return found


def match_attachment(
    listed: list[dict[str, Any]], attachment: Attachment, siblings: list[Attachment]
) -> str | None:
    def cid(value: object) -> str:
        return str(value or "").strip().strip("<>")

    if attachment.content_id:
        for item in listed:
            if cid(item.get("contentId")) == attachment.content_id:
                return str(item["id"])
    same_name = [item for item in listed if str(item.get("name") or "") == attachment.filename]
    if len(same_name) == 1:
        return str(same_name[0]["id"])
    place = [a.pk for a in siblings].index(attachment.pk) if attachment in siblings else -1
    if len(listed) == len(siblings) and place >= 0:
        return str(listed[place]["id"])
    return None
