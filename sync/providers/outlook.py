"""Outlook / Microsoft 365 through Microsoft Graph: the adapter behind ``settings.SYNC_ADAPTERS``.

* Sign-in: msal with a token cache per account (``graph_auth``).
* Transport: Graph over requests with immutable ids and ``$batch`` (``graph_client``).
* Push: archive / unarchive / trash as moves to ``archive`` / ``inbox`` / ``deleteditems``
  (``outlook_push``).
* Pull: the first sync imports Inbox and Sent Items of the past days; later syncs read each
  folder's ``delta`` and resolve ``@removed`` into "deleted" or "moved" (``outlook_pull``).

A personal account is the signed-in user's own mailbox (``/me``). A team account is either
its own sign-in (``/me``) or, with ``config["shared_mailbox"]`` set, an Exchange shared
mailbox opened with a member's delegated sign-in (``/users/{address}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from inbox.models import MailAccount
from sync.models import FolderState
from sync.providers.base import PullReport, PushRequest, PushResult
from sync.providers.graph_auth import GraphTokens, graph_session
from sync.providers.graph_client import GraphClient, SubRequest, quote_id

# The well-known folders sync and push care about, with their FolderState role.
FOLDER_ROLES = {"inbox": "inbox", "sentitems": "sent", "archive": "archive", "deleteditems": "trash"}


def mailbox_path(account: MailAccount) -> str:
    if (account.config or {}).get("shared_mailbox"):
        return f"/users/{quote_id(account.address)}"
    return "/me"


@dataclass
class FolderMap:
    """Well-known folder name ↔ this mailbox's folder id ("" when the mailbox lacks it)."""

    ids: dict[str, str]

    def id(self, name: str) -> str:
        return self.ids.get(name, "")

    def name_of(self, folder_id: str) -> str:
        """The well-known name of a folder id, or the id itself for any other folder."""
        for name, fid in self.ids.items():
            if fid and fid == folder_id:
                return name
        return folder_id

    def has(self, name: str) -> bool:
        return bool(self.ids.get(name))


class OutlookAdapter:
    def __init__(self, account: MailAccount) -> None:
        self.account = account
        self.session = graph_session()
        self.tokens = GraphTokens(account, self.session)
        self.graph = GraphClient(
            self.tokens, self.session, settings.GRAPH_API_ENDPOINT, mailbox_path(account)
        )
        self._folders: FolderMap | None = None

    def push(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        from sync.providers.outlook_push import push_changes

        return push_changes(self, requests)

    def pull(self) -> PullReport:
        from sync.providers.outlook_pull import pull_mailbox

        return pull_mailbox(self)

    def folders(self) -> FolderMap:
        """Folder ids of the well-known folders, looked up once and kept in FolderState.

        A folder the mailbox lacks (some have no Archive) is looked up again next time.
        """
        if self._folders is not None:
            return self._folders
        states = {
            s.folder: s
            for s in FolderState.objects.filter(account_id=self.account.pk, folder__in=list(FOLDER_ROLES))
        }
        ids = {name: str(states[name].extra.get("folder_id", "")) for name in FOLDER_ROLES if name in states}
        missing = [name for name in FOLDER_ROLES if not ids.get(name)]
        if missing:
            parts = [
                SubRequest(name, "GET", self.graph.path(f"/mailFolders/{name}?$select=id,displayName"))
                for name in missing
            ]
            answers = self.graph.batch(parts)
            for name in missing:
                answer = answers[name]
                if answer.ok:
                    ids[name] = str(answer.body["id"])
                elif answer.status == 404:
                    ids[name] = ""
                else:
                    raise answer.error(f"looking up the {name} folder")
                state = states.get(name) or FolderState(
                    account_id=self.account.pk, folder=name, role=FOLDER_ROLES[name]
                )
                state.extra = {**state.extra, "folder_id": ids[name]}
                state.updated_at = timezone.now()
                state.save()
        self._folders = FolderMap(ids)
        return self._folders
