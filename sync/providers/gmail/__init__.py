"""The Gmail adapter: Gmail accounts through the Gmail API.

The pieces live next to it: ``gmail_client`` (OAuth tokens, transport, calls, HTTP
batches, typed errors), ``gmail_pull`` (first / incremental sync, deletions on positive
evidence) and ``gmail_push`` (archive, unarchive, trash).
"""

from __future__ import annotations

from collections.abc import Sequence

from inbox.models import MailAccount
from sync.providers.base import PullReport, PushRequest, PushResult
from sync.providers.gmail_client import GmailClient
from sync.providers.gmail_pull import GmailPull
from sync.providers.gmail_push import push_changes


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
