"""The Gmail adapter: Gmail accounts through the Gmail API.

A package of the same shape as the other providers: ``auth`` (OAuth tokens, what Google's
refusals mean), ``client`` (transport, calls, HTTP batches, typed errors), ``labels`` (what is
mail, which folder), ``pull`` (first / incremental sync, reconcile after a lost cursor,
deletions on positive evidence) and ``push`` (archive, unarchive, trash). The modules import
each other in that order only; nothing imports this package's ``__init__``.
"""

from __future__ import annotations

from collections.abc import Sequence

from inbox.models import MailAccount
from sync.providers.base import Checkpoint, PullReport, PushRequest, PushResult, SendRequest
from sync.providers.gmail.client import GmailClient
from sync.providers.gmail.pull import GmailPull
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

    def send(self, request: SendRequest, checkpoint: Checkpoint) -> dict[str, object]:
        return send_message(self.client, request, checkpoint)
