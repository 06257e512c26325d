"""Which IMAP folder plays which role: RFC 6154 special-use flags first, names second.

* Special-use flags (``\\Sent``, ``\\Archive``, ``\\Trash``, and ``\\All`` — Gmail's All Mail,
  ``\\AllMail`` in the older XLIST) decide whenever a server sets them.
* Otherwise the name is guessed from the common names of each role in the big UI languages
  (the mail clients' and Outlook/Exchange's localized names), compared case-insensitively on
  the decoded name (imapclient decodes modified UTF-7). Only the path *under* the personal
  namespace prefix counts ("INBOX." with "." on Courier and Cyrus, from NAMESPACE/LIST), and
  a folder at the top (or directly under that prefix) beats a nested look-alike: a user's
  "Clients/Archive" is not the mailbox's Archive when "Archives" exists.

A name guess is marked as such (``guessed``) so the user is shown "we think your Archive
folder is 'Archives'" on the status page, and can pick another one, instead of the app
silently moving mail into the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

ROLES = ("inbox", "sent", "archive", "trash")
CHOOSABLE_ROLES = ("sent", "archive", "trash")  # what a user may re-map (INBOX is INBOX)
ALL_MAIL = "all"  # the config key of Gmail's All Mail (``\All``): a view, no role of its own
SPECIAL_USE = {"sent": (b"\\sent",), "archive": (b"\\archive",), "trash": (b"\\trash",)}
ALL_FLAGS = (b"\\all", b"\\allmail")
# Common names per role, most likely first: English, then Outlook/Exchange's and the usual
# mail clients' names in German, French, Spanish, Portuguese, Italian, Dutch, Russian,
# Japanese, Chinese (simplified and traditional), Polish, Swedish, Danish, Norwegian,
# Finnish, Czech, Turkish and Korean.
NAME_GUESSES = {
    "sent": (
        "Sent", "Sent Items", "Sent Messages", "Sent Mail", "Sent Mails", "Outbox Sent",
        "Gesendet", "Gesendete Elemente", "Gesendete Objekte", "Gesendete Nachrichten",
        "Envoyés", "Éléments envoyés", "Messages envoyés", "Envoyé",
        "Enviados", "Elementos enviados", "Mensajes enviados", "Enviado",
        "Itens Enviados", "Mensagens Enviadas", "Enviadas",
        "Inviata", "Posta inviata", "Elementi inviati", "Inviati",
        "Verzonden", "Verzonden items", "Verzonden berichten",
        "Отправленные", "Отправленные элементы", "Отправленные письма",
        "送信済み", "送信済みアイテム", "送信済みメール",
        "已发送", "已发送邮件", "已发送项目", "已发邮件",
        "寄件備份", "已傳送郵件", "已傳送的郵件", "已寄出郵件",
        "Wysłane", "Elementy wysłane", "Wysłane elementy",
        "Skickat", "Skickade", "Skickade objekt", "Skickade meddelanden",
        "Sendt", "Sendte elementer", "Sendt post", "Sendte",
        "Lähetetyt", "Lähetetyt kohteet", "Lähetetyt viestit",
        "Odeslané", "Odeslaná pošta", "Odeslané položky",
        "Gönderilenler", "Gönderilmiş Öğeler", "Gönderilen Öğeler",
        "보낸 편지함", "보낸 메일", "보낸편지함",
    ),
    "archive": (
        "Archive", "Archives", "Archived",
        "Archiv", "Archivo", "Archivos", "Archivado",
        "Arquivo", "Arquivos", "Arquivo Morto", "Arquivados",
        "Archivio", "Archivi",
        "Archief",
        "Архив",
        "アーカイブ",
        "存档", "归档", "封存", "已封存", "歸檔",
        "Archiwum",
        "Arkiv",
        "Arkisto",
        "Arşiv",
        "보관", "보관함", "보관 파일",
    ),
    "trash": (
        "Trash", "Deleted Items", "Deleted Messages", "Deleted", "Bin", "Deleted Mail", "Recycle Bin",
        "Papierkorb", "Gelöschte Elemente", "Gelöschte Objekte", "Gelöscht", "Gelöschte Nachrichten",
        "Corbeille", "Éléments supprimés", "Messages supprimés", "Supprimés",
        "Papelera", "Elementos eliminados", "Mensajes eliminados", "Eliminados",
        "Lixeira", "Lixo", "Itens Excluídos", "Itens eliminados", "Reciclagem",
        "Cestino", "Posta eliminata", "Elementi eliminati",
        "Prullenbak", "Verwijderde items", "Verwijderde berichten", "Prullenmand",
        "Корзина", "Удаленные", "Удалённые", "Удаленные элементы", "Удалённые элементы",
        "ごみ箱", "ゴミ箱", "削除済みアイテム",
        "已删除", "已删除邮件", "已删除项目", "垃圾箱",
        "刪除的郵件", "已刪除郵件", "已刪除的郵件", "已刪除項目",
        "Kosz", "Elementy usunięte", "Usunięte", "Usunięte elementy",
        "Papperskorgen", "Papperskorg", "Borttagna objekt", "Borttaget", "Borttagna meddelanden",
        "Papirkurv", "Slettet post", "Slettede elementer", "Slettet",
        "Roskakori", "Poistetut", "Poistetut kohteet",
        "Koš", "Odstraněná pošta", "Odstraněné položky",
        "Çöp Kutusu", "Silinmiş Öğeler", "Silinenler",
        "휴지통", "지운 편지함", "지운편지함",
    ),
}  # fmt: skip
UNSELECTABLE = {b"\\noselect", b"\\nonexistent"}


@dataclass
class FolderMap:
    inbox: str = "INBOX"
    sent: str | None = None
    archive: str | None = None
    trash: str | None = None
    guessed: dict[str, bool] = field(default_factory=dict)
    # Gmail-style servers: the ``\All`` folder (All Mail), a view over every label but Trash
    # and Spam. Without an Archive folder, archiving there means leaving INBOX while the
    # message stays in All Mail.
    all_mail: str | None = None

    def get(self, role: str) -> str | None:
        if role == ALL_MAIL:
            return self.all_mail
        return getattr(self, role)

    def role_of(self, folder: str) -> str:
        for role in ROLES:
            name = self.get(role)
            if name is not None and name == folder:
                return role
        if self.all_mail is not None and folder == self.all_mail:
            return ALL_MAIL
        return ""

    @property
    def archives_into_all_mail(self) -> bool:
        """Gmail-style: no Archive folder, but All Mail; archive = leave INBOX, stay in All Mail."""
        return self.archive is None and self.all_mail is not None

    def to_config(self) -> dict[str, object]:
        folders: dict[str, str | None] = {role: self.get(role) for role in ROLES}
        if self.all_mail:
            folders[ALL_MAIL] = self.all_mail
        return {
            "folders": folders,
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
            all_mail=folders.get(ALL_MAIL) or None,
        )


@dataclass(frozen=True)
class ListedFolder:
    """One folder as LIST shows it (name decoded from modified UTF-7)."""

    name: str
    flags: frozenset[bytes]  # lower-cased
    delimiter: str

    @property
    def selectable(self) -> bool:
        return not self.flags & UNSELECTABLE


def list_folders(client: IMAPClient) -> list[ListedFolder]:
    """Every folder LIST shows, selectable or not."""
    found = []
    for flags, delimiter, name in client.list_folders():
        sep = delimiter.decode() if isinstance(delimiter, bytes) else (delimiter or "")
        found.append(ListedFolder(str(name), frozenset(f.lower() for f in flags), sep))
    return found


def selectable_folders(client: IMAPClient) -> list[tuple[tuple[bytes, ...], str]]:
    """(flags, name) of every folder that can be selected."""
    found = []
    for flags, _delimiter, name in client.list_folders():
        lowered = {f.lower() for f in flags}
        if lowered & UNSELECTABLE:
            continue
        found.append((tuple(flags), str(name)))
    return found


def personal_prefix(client: IMAPClient) -> tuple[str, str]:
    """(prefix, separator) of the personal namespace: ("", "/") on Dovecot's default,
    ("INBOX.", ".") on Courier and Cyrus. From NAMESPACE when the server has it."""
    if client.has_capability("NAMESPACE"):
        try:
            personal = client.namespace().personal
        except IMAPClientError as exc:  # a refused NAMESPACE is no reason to fail discovery
            if isinstance(exc, IMAPClientAbortError):
                raise
            personal = None
        if personal:
            prefix, separator = personal[0]
            prefix = prefix.decode() if isinstance(prefix, bytes) else str(prefix or "")
            separator = separator.decode() if isinstance(separator, bytes) else str(separator or "")
            return prefix, separator
    return "", ""


def discover_folders(client: IMAPClient) -> FolderMap:
    listed = list_folders(client)
    prefix, _separator = personal_prefix(client)
    return choose_folders(listed, prefix)


def choose_folders(listed: list[ListedFolder], prefix: str = "") -> FolderMap:
    """The roles for a folder list (see the module docstring for the rules)."""
    folders = [f for f in listed if f.selectable]
    result = FolderMap()
    result.inbox = next((f.name for f in folders if f.name.upper() == "INBOX"), "INBOX")
    others = [f for f in folders if f.name != result.inbox]
    all_flagged = [f for f in others if f.flags & set(ALL_FLAGS)]
    if all_flagged:
        result.all_mail = _shallowest(all_flagged, prefix).name
    taken: set[str] = {result.all_mail} if result.all_mail else set()
    for role, flags in SPECIAL_USE.items():
        flagged = [f for f in others if f.flags & set(flags)]
        choice: str | None
        if flagged:
            choice = _shallowest(flagged, prefix).name
            result.guessed[role] = False
        else:
            choice = _guess(role, [f for f in others if f.name not in taken], prefix)
            result.guessed[role] = choice is not None
        setattr(result, role, choice)
        if choice:
            taken.add(choice)
    return result


def path_under_prefix(folder: ListedFolder, prefix: str) -> list[str]:
    """The folder's path components below the personal namespace prefix."""
    name = folder.name
    if prefix and name.casefold().startswith(prefix.casefold()) and name.upper() != "INBOX":
        name = name[len(prefix) :]
    return [part for part in (name.split(folder.delimiter) if folder.delimiter else [name]) if part]


def _shallowest(folders: list[ListedFolder], prefix: str) -> ListedFolder:
    return min(folders, key=lambda f: (len(path_under_prefix(f, prefix)), f.name.casefold()))


def _guess(role: str, folders: list[ListedFolder], prefix: str) -> str | None:
    wanted = {name.casefold(): rank for rank, name in reversed(list(enumerate(NAME_GUESSES[role])))}
    best: tuple[int, int, str] | None = None
    for folder in folders:
        path = path_under_prefix(folder, prefix)
        if not path:
            continue
        rank = wanted.get(path[-1].casefold())
        if rank is None:
            continue
        # Depth first (top level beats nested look-alikes), then how common the name is.
        key = (len(path), rank, folder.name)
        if best is None or key < best:
            best = key
    return best[2] if best else None
