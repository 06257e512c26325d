"""Which IMAP folder plays which role: RFC 6154 special-use flags first, names second.

A name guess is marked as such (``guessed``) so the user can be shown "we think your
Archive folder is 'Archives'" instead of the app silently moving mail into the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imapclient import IMAPClient

ROLES = ("inbox", "sent", "archive", "trash")
SPECIAL_USE = {"sent": b"\\Sent", "archive": b"\\Archive", "trash": b"\\Trash"}
# Common names per role, most likely first (English, then a few big languages); matched
# case-insensitively against the last path component.
NAME_GUESSES = {
    "sent": ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "Skickat", "Skickade", "Gesendet",
             "Gesendete Elemente", "Envoyés", "Éléments envoyés", "Enviados", "Inviata"),
    "archive": ("Archive", "Archives", "Arkiv", "Archiv", "Archivio", "Archivo"),
    "trash": ("Trash", "Deleted Items", "Deleted Messages", "Deleted", "Bin", "Papperskorgen",
              "Papperskorg", "Borttagna objekt", "Papierkorb", "Gelöschte Elemente", "Corbeille",
              "Papelera", "Cestino"),
}  # fmt: skip
UNSELECTABLE = {b"\\noselect", b"\\nonexistent"}


@dataclass
class FolderMap:
    inbox: str = "INBOX"
    sent: str | None = None
    archive: str | None = None
    trash: str | None = None
    guessed: dict[str, bool] = field(default_factory=dict)

    def get(self, role: str) -> str | None:
        return getattr(self, role)

    def role_of(self, folder: str) -> str:
        for role in ROLES:
            name = self.get(role)
            if name is not None and name == folder:
                return role
        return ""

    def to_config(self) -> dict[str, object]:
        return {
            "folders": {role: self.get(role) for role in ROLES},
            "folder_guessed": {role: self.guessed.get(role, False) for role in ROLES if role != "inbox"},
        }

    @classmethod
    def from_config(cls, config: dict[str, object]) -> FolderMap | None:
        folders = config.get("folders")
        if not isinstance(folders, dict) or not folders.get("inbox"):
            return None
        guessed = config.get("folder_guessed")
        return cls(
            inbox=str(folders["inbox"]),
            sent=folders.get("sent") or None,
            archive=folders.get("archive") or None,
            trash=folders.get("trash") or None,
            guessed=dict(guessed) if isinstance(guessed, dict) else {},
        )


def selectable_folders(client: IMAPClient) -> list[tuple[tuple[bytes, ...], str]]:
    """(flags, name) of every folder that can be selected."""
    found = []
    for flags, _delimiter, name in client.list_folders():
        lowered = {f.lower() for f in flags}
        if lowered & UNSELECTABLE:
            continue
        found.append((tuple(flags), str(name)))
    return found


def discover_folders(client: IMAPClient) -> FolderMap:
    folders = selectable_folders(client)
    result = FolderMap()
    inbox = next((name for _f, name in folders if name.upper() == "INBOX"), "INBOX")
    result.inbox = inbox
    for role, flag in SPECIAL_USE.items():
        flagged = [name for flags, name in folders if flag.lower() in {f.lower() for f in flags}]
        if flagged:
            setattr(result, role, flagged[0])
            result.guessed[role] = False
            continue
        guess = _guess(role, [name for _f, name in folders if name != inbox])
        setattr(result, role, guess)
        result.guessed[role] = guess is not None
    return result


def _guess(role: str, names: list[str]) -> str | None:
    def leaf(name: str) -> str:
        for delimiter in ("/", "."):
            name = name.rsplit(delimiter, 1)[-1]
        return name.casefold()

    for wanted in NAME_GUESSES[role]:
        matches = sorted((n for n in names if leaf(n) == wanted.casefold()), key=len)
        if matches:
            return matches[0]
    return None
