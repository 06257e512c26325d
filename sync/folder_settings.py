"""Which IMAP folder plays which role, as the mailbox's owner (or a company admin, for a team
mailbox) sets it: the read for the status page and the form, and the audited write.

The roles were found when the mailbox was connected (sync/providers/imap/folders.py):
special-use flags, else a name guess marked as such. A person who knows better picks the
folders from the server's own list; the choice is stored in ``account.config`` in the same
shape discovery uses (``FolderMap.to_config``), is no longer marked "guessed", and is
recorded as an AuditEvent (who, when, which role from which folder to which).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.db import transaction

from accounts.models import User
from inbox.errors import InvalidRequest, NotAllowed
from inbox.models import AuditAction, AuditEvent, MailAccount, Provider
from inbox.settings_selectors import can_change
from sync.providers.imap import ImapAdapter
from sync.providers.imap.errors import imap_errors
from sync.providers.imap.folders import CHOOSABLE_ROLES, FolderMap, selectable_folders

# AuditEvent.action for a changed folder mapping. (AuditAction has no choice for it yet;
# Django does not check choices on save, and the admin shows the raw value.)
AUDIT_ACTION = AuditAction.FOLDER_MAP
CHOSEN_KEY = "folders_chosen"
ROLE_LABELS = {"inbox": "Inbox", "sent": "Sent", "archive": "Archive", "trash": "Trash", "all": "All Mail"}


@dataclass(frozen=True)
class FolderRow:
    role: str
    label: str
    folder: str | None
    guessed: bool
    note: str = ""


def folder_rows(account: MailAccount) -> list[FolderRow]:
    """The stored mapping, role by role (nothing for mailboxes that are not IMAP)."""
    if account.provider != Provider.IMAP:
        return []
    folders = FolderMap.from_config(account.config or {})
    if folders is None:
        return []
    rows = [FolderRow(role, ROLE_LABELS[role], folders.get(role), bool(folders.guessed.get(role))) for role in
            ("inbox", *CHOOSABLE_ROLES)]  # fmt: skip
    if folders.archives_into_all_mail:
        # Gmail-style: archiving leaves the Inbox; the message stays in All Mail.
        rows = [
            replace(row, folder=folders.all_mail, note="archived mail leaves the Inbox and stays in All Mail")
            if row.role == "archive"
            else row
            for row in rows
        ]
    if folders.all_mail:
        rows.append(FolderRow("all", ROLE_LABELS["all"], folders.all_mail, False))
    return rows


def keep_chosen_folders(account: MailAccount, verified_config: dict[str, object]) -> dict[str, object]:
    """The config to store when ``account`` is reconnected: a person's folder choice survives
    a reconnect to the same server and login (a new password, say) instead of being replaced
    by a fresh guess; another server or login gets the freshly found folders."""
    old = account.config or {}
    same = all(old.get(key) == verified_config.get(key) for key in ("host", "port", "login"))
    if not (old.get(CHOSEN_KEY) and same):
        return verified_config
    kept = {key: value for key, value in verified_config.items() if key not in ("folders", "folder_guessed")}
    return {**kept, "folders": old.get("folders"), "folder_guessed": old.get("folder_guessed")}


def server_folders(account: MailAccount) -> list[str]:
    """The selectable folders the mail server lists right now (INBOX first).

    Raises the typed provider errors (sync/errors.py) when the server cannot be asked.
    """
    adapter = ImapAdapter(account)
    with adapter.session() as client, imap_errors("listing the folders"):
        names = [name for _flags, name in selectable_folders(client)]
    return sorted(set(names), key=lambda n: (n.upper() != "INBOX", n.casefold()))


@transaction.atomic
def set_folder_map(
    actor: User, account_id: int, chosen: dict[str, str | None], available: list[str]
) -> FolderMap:
    """Store the folders ``actor`` picked for Sent, Archive and Trash, and audit the change.

    ``available`` is what the server listed: a folder it does not have cannot be chosen, and
    no folder plays two roles (archiving into Trash would be a delete).
    """
    account = MailAccount.objects.select_for_update().select_related("company").get(pk=account_id)
    if not can_change(actor, account):
        raise NotAllowed(
            "Only the mailbox's owner, or a company admin for a team mailbox, can change its folders."
        )
    if account.provider != Provider.IMAP:
        raise InvalidRequest("Only IMAP mailboxes have folders to choose.")
    current = FolderMap.from_config(account.config or {}) or FolderMap()
    picked: dict[str, str | None] = {}
    for role in CHOOSABLE_ROLES:
        name = chosen.get(role) or None
        if name is not None and name not in available:
            raise InvalidRequest(f"The mail server has no folder {name!r}.")
        if name is not None and name.upper() == current.inbox.upper():
            raise InvalidRequest(f"The Inbox cannot be the {ROLE_LABELS[role]} folder.")
        picked[role] = name
    if current.all_mail and picked["archive"] == current.all_mail:
        # All Mail is not a folder to move into but a view: archiving there means leaving the
        # Inbox (FolderMap.archives_into_all_mail), kept as "no Archive folder, All Mail".
        picked["archive"] = None
    used = [name for name in picked.values() if name]
    if len(used) != len(set(used)):
        raise InvalidRequest("Each folder can play one role only.")
    updated = replace(current, **picked, guessed={role: False for role in CHOOSABLE_ROLES})  # type: ignore[arg-type]
    changes = {
        role: {"from": current.get(role), "to": picked[role]}
        for role in CHOOSABLE_ROLES
        if current.get(role) != picked[role] or current.guessed.get(role)
    }
    # CHOSEN_KEY: a reconnect to the same server keeps these instead of guessing again.
    account.config = {**(account.config or {}), **updated.to_config(), CHOSEN_KEY: True}
    account.save(update_fields=["config"])
    if changes:
        summary = "; ".join(
            f"{ROLE_LABELS[role]}: {change['from'] or 'none'} → {change['to'] or 'none'}"
            for role, change in changes.items()
        )
        AuditEvent.objects.create(
            company=account.company,
            actor=actor,
            account=account,
            action=AUDIT_ACTION,
            summary=f"Changed the folders of {account.address} ({summary})",
            details={"folders": changes},
        )
    return updated
