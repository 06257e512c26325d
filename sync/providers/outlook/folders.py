"""Which Outlook folder is which: the well-known folders sync and push care about.

Graph names a few folders by role (``inbox``, ``archive``, ``deleteditems``,
``recoverableitemsdeletions`` …) but reports a message's place as a folder *id*; this module
keeps the id of each well-known folder (in FolderState.extra, looked up once) and answers
what a folder id means for sync.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from inbox.models import MailAccount
from sync.models import FolderState
from sync.providers.outlook.client import GraphClient, SubRequest, quote_id

# The well-known folders sync and push care about, with their FolderState role.
FOLDER_ROLES = {
    "inbox": "inbox",
    "sentitems": "sent",
    "archive": "archive",
    "deleteditems": "trash",
    # Shift+Delete in Outlook, and emptying Deleted Items, land here: a permanent delete.
    "recoverableitemsdeletions": "trash",
    # Not mail the app imports (drafts, spam): known only so they can be left out.
    "drafts": "",
    "junkemail": "",
}
# A message in one of these was deleted by the user (decision 1: Trash or removed for good).
DELETED_FOLDERS = ("deleteditems", "recoverableitemsdeletions")
# Never imported: unsent drafts and spam are not conversations.
NOT_MAIL_FOLDERS = ("drafts", "junkemail")


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

    def is_deleted(self, folder: str) -> bool:
        """``folder`` (a well-known name or an id) is Deleted Items or Recoverable Items Deletions."""
        return self.name_of(folder) in DELETED_FOLDERS


def load_folders(account: MailAccount, graph: GraphClient) -> FolderMap:
    """Folder ids of the well-known folders, looked up once and kept in FolderState.

    A folder the mailbox lacks (some have no Archive) or refused to show (403) is looked up
    again next time.
    """
    states = {
        s.folder: s for s in FolderState.objects.filter(account_id=account.pk, folder__in=list(FOLDER_ROLES))
    }
    ids = {name: str(states[name].extra.get("folder_id", "")) for name in FOLDER_ROLES if name in states}
    missing = [name for name in FOLDER_ROLES if not ids.get(name)]
    if not missing:
        return FolderMap(ids)
    parts = [
        SubRequest(name, "GET", graph.path(f"/mailFolders/{name}?$select=id,displayName")) for name in missing
    ]
    answers = graph.batch(parts)
    for name in missing:
        answer = answers[name]
        if answer.ok:
            ids[name] = str(answer.body["id"])
        elif answer.status in (403, 404):
            # Missing, or not shared with this delegate: that folder is simply not read.
            ids[name] = ""
        else:
            raise answer.error(f"looking up the {name} folder")
        state = states.get(name) or FolderState(account_id=account.pk, folder=name, role=FOLDER_ROLES[name])
        state.extra = {**state.extra, "folder_id": ids[name]}
        state.updated_at = timezone.now()
        state.save()
    return FolderMap(ids)
