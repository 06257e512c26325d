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

A personal account is the signed-in user's own mailbox (``/me``). A team account is either
its own sign-in (``/me``) or, with ``config["shared_mailbox"]`` set, an Exchange shared
mailbox opened with a member's delegated sign-in (``/users/{address}``).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from inbox.models import MailAccount
from sync.providers.base import PullReport, PushRequest, PushResult
from sync.providers.outlook.auth import GraphTokens, graph_session
from sync.providers.outlook.client import GraphClient
from sync.providers.outlook.folders import FolderMap, load_folders, mailbox_path
from sync.providers.outlook.pull import OutlookPull
from sync.providers.outlook.push import push_changes
from sync.providers.outlook.read_state import push_read_state

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
