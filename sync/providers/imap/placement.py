"""Where is a message now, and is it really gone from every folder?

A message that left its IMAP folder is deleted in the app only on evidence (ARCHITECTURE.md,
decision 7): found in Trash, or found by no *complete* check of every folder on two pulls in
a row. This module does one check; ``ImapPull`` keeps the tally (``sync.models.UnplacedMessage``).

A check looks at every selectable folder LIST shows, ``\\All`` included, plus the folders of
every namespace NAMESPACE names (``LIST "" "*"`` leaves out namespaces that are not listed by
default, e.g. shared folders). It is **incomplete** — and proves no absence — when:

* a folder could not be selected or searched, or a namespace could not be listed;
* the folder list differs from the one last seen (a folder hidden for one pull, a
  label hidden from IMAP, a folder renamed mid-scan);
* a search was refused (``NO``; ``[BADCHARSET]`` falls back to an ASCII search first);
* a Gmail-style server (``X-GM-EXT-1``) shows no ``\\All`` folder: the user hid All Mail from
  IMAP, so an archived message sits in no visible folder.

A copy flagged ``\\Deleted`` (not yet expunged) is no live copy, but no evidence of deletion
either: it is reported apart (``flagged``) so the caller waits for the expunge.

On Gmail-style servers a message whose X-GM-MSGID we stored is looked up by that id in All
Mail, Trash and Spam (All Mail holds every other label), not by a header search over an index
that may lag.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from sync.mime import clean_text
from sync.providers.imap.client import MESSAGE_ID_FIELD, NOT_ASCII, chunks, has, message_id_of_header, ref_key
from sync.providers.imap.errors import is_temporary_refusal
from sync.providers.imap.folders import UNSELECTABLE, FolderMap

SEARCH_BATCH = 25  # Message-IDs per SEARCH (an OR tree): keeps command lines short
FETCH_BATCH = 1000
DELETED = b"\\deleted"
_MESSAGE_ID_KEY = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"


@dataclass
class Location:
    folder: str
    uidvalidity: int
    uid: int

    @property
    def key(self) -> str:
        return ref_key(self.folder, self.uidvalidity, self.uid)

    def fields(self) -> dict[str, object]:
        return {"key": self.key, "folder": self.folder, "uidvalidity": self.uidvalidity, "uid": self.uid}


@dataclass
class Placement:
    """The outcome of one check, keyed by normalized Message-ID."""

    live: dict[str, list[tuple[str, Location]]] = field(default_factory=lambda: defaultdict(list))
    flagged: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    problems: list[str] = field(default_factory=list)  # make the whole check incomplete
    # Searches refused for one Message-ID only: the check is incomplete for that message alone.
    refused: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    folder_list: str = ""  # fingerprint of the folder list this check saw

    @property
    def complete(self) -> bool:
        return not self.problems

    def complete_for(self, message_id: str) -> bool:
        return not self.problems and not self.refused.get(message_id)

    def problems_for(self, message_id: str) -> list[str]:
        return [*self.problems, *self.refused.get(message_id, [])]


@dataclass
class Located:
    live: dict[str, list[int]]
    flagged: dict[str, list[int]]
    refused: dict[str, str]


# --- the folder list -----------------------------------------------------------------------------
def every_folder(client: IMAPClient) -> tuple[list[tuple[tuple[bytes, ...], str]], list[str]]:
    """(flags, name) of every selectable folder in every namespace, and what could not be listed."""
    problems: list[str] = []
    found: dict[str, tuple[bytes, ...]] = {}

    def add(listing: Iterable[tuple[tuple[bytes, ...], bytes, object]]) -> None:
        for flags, _delimiter, name in listing:
            if {f.lower() for f in flags} & UNSELECTABLE:
                continue
            found.setdefault(str(name), tuple(flags))

    add(client.list_folders())
    if has(client, "NAMESPACE"):
        try:
            namespaces = client.namespace()
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                raise
            namespaces = None
            problems.append(f"the server would not name its namespaces: {_text(exc)}")
        for group in namespaces or ():
            for prefix, _separator in group or ():
                prefix = prefix.decode() if isinstance(prefix, bytes) else str(prefix)
                if not prefix:
                    continue  # the default namespace: what LIST "" "*" showed
                try:
                    add(client.list_folders("", prefix + "*"))
                except IMAPClientError as exc:
                    if isinstance(exc, IMAPClientAbortError):
                        raise
                    problems.append(f"could not list the namespace {prefix!r}: {_text(exc)}")
    return sorted(((flags, name) for name, flags in found.items()), key=lambda item: item[1]), problems


def fingerprint(folders: Sequence[tuple[tuple[bytes, ...], str]]) -> str:
    """A short digest of the folder names: equal lists, equal digests."""
    digest = hashlib.sha256("\n".join(sorted(name for _f, name in folders)).encode("utf-8"))
    return digest.hexdigest()[:32]


# --- searching one folder ----------------------------------------------------------------------------
def _or_tree(keys: list[list[object]]) -> list[object]:
    if len(keys) == 1:
        return keys[0]
    middle = len(keys) // 2
    return ["OR", _or_tree(keys[:middle]), _or_tree(keys[middle:])]


def locate_message_ids(client: IMAPClient, message_ids: Sequence[str]) -> Located:
    """Copies of each Message-ID in the selected folder: live ones and ``\\Deleted``-flagged
    ones apart, and the Message-IDs the server would not search for (unknown, never absent).

    HEADER search matches substrings, so every hit is confirmed by its fetched header. A
    refused batch is asked about one Message-ID at a time; ``NO [BADCHARSET]`` to a UTF-8
    search (US-ASCII-only servers such as Exchange) switches to ASCII searches, and a
    non-ASCII Message-ID that then cannot be looked for is reported as refused.
    """
    wanted = sorted({m for m in message_ids if m})
    result = Located({}, {}, {})
    plain = [m for m in wanted if m.isascii()]
    # ASCII ones in OR trees; a non-ASCII one alone, flat, with CHARSET UTF-8: imapclient drops
    # the charset inside nested criteria and glues the closing parenthesis into an 8-bit
    # literal, so a non-ASCII Message-ID can only be asked about at the top level.
    pending = [plain[start : start + SEARCH_BATCH] for start in range(0, len(plain), SEARCH_BATCH)]
    pending += [[m] for m in wanted if not m.isascii()]
    pending.reverse()
    ascii_only = False
    hits: set[int] = set()
    while pending:
        group = pending.pop()
        utf8 = not group[0].isascii()
        if utf8 and ascii_only:
            result.refused[group[0]] = NOT_ASCII
            continue
        criteria: list[object] = (
            ["HEADER", "Message-ID", group[0]]
            if utf8
            else _or_tree([["HEADER", "Message-ID", m] for m in group])
        )
        try:
            hits.update(client.search(criteria, charset="UTF-8" if utf8 else None))
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                raise
            if utf8 and "BADCHARSET" in _text(exc).upper():
                ascii_only = True  # US-ASCII-only SEARCH (Exchange): the other non-ASCII ones too
                result.refused[group[0]] = NOT_ASCII
            elif len(group) > 1 and not is_temporary_refusal(exc):
                pending.extend([m] for m in group)  # one bad apple must not spoil the rest
            else:
                # Refused (or "busy": asking each alone would not help): unknown, not absent.
                for mid in group:
                    result.refused[mid] = f"the server refused the search: {_text(exc)}"
    if hits:
        live, flagged = _classify(client, sorted(hits), [MESSAGE_ID_FIELD], _message_id_of)
        wanted_set = set(wanted)
        for target, source in ((result.live, live), (result.flagged, flagged)):
            for uid, mid in source.items():
                if mid in wanted_set:
                    target.setdefault(mid, []).append(uid)
    return result


def locate_gmail_ids(client: IMAPClient, msgids: Sequence[int]) -> Located:
    """Like ``locate_message_ids``, by X-GM-MSGID (Gmail's IMAP extension); keys are str(id)."""
    wanted = sorted(set(msgids))
    result = Located({}, {}, {})
    hits: set[int] = set()
    for group in chunks(wanted, SEARCH_BATCH):
        try:
            hits.update(client.search(_or_tree([["X-GM-MSGID", str(m)] for m in group])))
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                raise
            for m in group:
                result.refused[str(m)] = f"the server refused the X-GM-MSGID search: {_text(exc)}"
    if hits:
        live, flagged = _classify(client, sorted(hits), ["X-GM-MSGID"], _gmail_id_of)
        wanted_set = {str(m) for m in wanted}
        for target, source in ((result.live, live), (result.flagged, flagged)):
            for uid, key in source.items():
                if key in wanted_set:
                    target.setdefault(key, []).append(uid)
    return result


def _gmail_id_of(data: dict[bytes, Any]) -> str:
    return str(data.get(b"X-GM-MSGID", ""))


def _message_id_of(data: dict[bytes, Any]) -> str:
    return message_id_of_header(data.get(_MESSAGE_ID_KEY, b"") or b"")


def _classify(
    client: IMAPClient, uids: Sequence[int], items: list[str], key_of: Callable[[dict[bytes, Any]], str]
) -> tuple[dict[int, str], dict[int, str]]:
    """uid → key for live copies, and for ``\\Deleted``-flagged ones, of the given UIDs."""
    live: dict[int, str] = {}
    flagged: dict[int, str] = {}
    for batch in chunks(uids, FETCH_BATCH):
        for uid, data in client.fetch(batch, ["FLAGS", *items]).items():
            flags = {
                f.lower() if isinstance(f, bytes) else str(f).lower().encode() for f in data.get(b"FLAGS", ())
            }
            (flagged if DELETED in flags else live)[uid] = key_of(data)
    return live, flagged


# --- one check across every folder ----------------------------------------------------------------
class PlacementCheck:
    """Look for messages in every folder of the mailbox, once."""

    def __init__(
        self,
        client: IMAPClient,
        folders: FolderMap,
        *,
        previous_folder_list: str | None,
        reconnect: Callable[[str], IMAPClient] | None = None,
    ) -> None:
        self.client = client
        # Logs in again after the server hung up (Dovecot sends BYE when it cannot open a
        # message file): the folder it hung up in is "not searched", the others still are.
        self.reconnect = reconnect
        self.folders = folders
        self.previous_folder_list = previous_folder_list
        self.gmail = has(client, "X-GM-EXT-1")
        self._listing: tuple[list[tuple[tuple[bytes, ...], str]], list[str]] | None = None

    def listing(self) -> tuple[list[tuple[tuple[bytes, ...], str]], list[str]]:
        if self._listing is None:
            try:
                self._listing = every_folder(self.client)
            except IMAPClientError as exc:
                if isinstance(exc, IMAPClientAbortError):
                    raise
                self._listing = ([], [f"the server would not list its folders: {_text(exc)}"])
        return self._listing

    def folder_list(self) -> str:
        """The fingerprint of the folder list; "" when it could not be listed whole (then
        the next check cannot be complete either)."""
        folders, problems = self.listing()
        return "" if problems else fingerprint(folders)

    def run(self, message_ids: Sequence[str], gmail_ids: dict[str, int] | None = None) -> Placement:
        """``message_ids``: normalized Message-IDs to look for; ``gmail_ids``: Message-ID →
        X-GM-MSGID where stored (used on Gmail-style servers only)."""
        folders, problems = self.listing()
        placement = Placement(problems=list(problems), folder_list=self.folder_list())
        if self.previous_folder_list is None:
            placement.problems.append("no earlier folder list to compare with (first check)")
        elif self.previous_folder_list != placement.folder_list:
            placement.problems.append("the folder list changed since it was last seen")
        wanted = sorted({m for m in message_ids if m})
        if not wanted:
            return placement
        by_gmail: dict[str, str] = {}
        if self.gmail:
            all_mail = [name for flags, name in folders if b"\\all" in {f.lower() for f in flags}]
            if not all_mail:
                placement.problems.append("All Mail is hidden from IMAP: archived mail cannot be seen")
            by_gmail = {str(gmail_ids[m]): m for m in wanted if gmail_ids and m in gmail_ids}
        trash = self.folders.trash
        ordered = [f for f in folders if f[1] != trash] + [f for f in folders if f[1] == trash]
        for flags, name in ordered:
            lowered = {f.lower() for f in flags}
            gmail_folder = self.gmail and bool(lowered & {b"\\all", b"\\trash", b"\\junk"})
            by_header = [m for m in wanted if m not in by_gmail.values()] if self.gmail else wanted
            if self.gmail and not gmail_folder and not by_header:
                continue  # every message has its X-GM-MSGID: All Mail, Trash and Spam cover it
            role = self.folders.role_of(name) or ("trash" if b"\\trash" in lowered else "")
            try:
                self._search_folder(placement, name, role, gmail_folder, by_header, by_gmail)
            except IMAPClientAbortError as exc:
                if self.reconnect is None:
                    raise
                placement.problems.append(f"the server hung up while {name!r} was searched: {_text(exc)}")
                self.client = self.reconnect(f"the server hung up while {name!r} was searched: reconnected")
        return placement

    def _search_folder(
        self,
        placement: Placement,
        name: str,
        role: str,
        gmail_folder: bool,
        by_header: list[str],
        by_gmail: dict[str, str],
    ) -> None:
        """Look for the messages in one folder; what is found or refused goes to ``placement``."""
        try:
            selected = self.client.select_folder(name, readonly=True)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                raise
            placement.problems.append(f"could not open {name!r}: {_text(exc)}")
            return
        if not selected.get(b"EXISTS"):
            return
        uidvalidity = int(selected[b"UIDVALIDITY"])
        try:
            located = locate_message_ids(self.client, by_header)
            if gmail_folder and by_gmail:
                by_id = locate_gmail_ids(self.client, [int(k) for k in by_gmail])
                located.live.update({by_gmail[k]: v for k, v in by_id.live.items()})
                located.flagged.update({by_gmail[k]: v for k, v in by_id.flagged.items()})
                located.refused.update({by_gmail[k]: v for k, v in by_id.refused.items()})
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                raise
            placement.problems.append(f"could not search {name!r}: {_text(exc)}")
            return
        for mid, reason in sorted(located.refused.items()):
            placement.refused[mid].append(f"could not search {name!r} for it: {reason}")
        for mid, uids in located.live.items():
            placement.live[mid].extend((role, Location(name, uidvalidity, uid)) for uid in uids)
        for mid in located.flagged:
            placement.flagged[mid].append(name)


def _text(exc: BaseException) -> str:
    return clean_text(" ".join(str(a.decode() if isinstance(a, bytes) else a) for a in exc.args) or repr(exc))
