"""Talking IMAP with imapclient: connecting, typed errors, and small protocol helpers
shared by the pull and the push side."""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TypeVar

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from inbox.models import MailAccount
from sync.errors import ProviderPermanentError
from sync.mime import clean_text, normalize_message_id
from sync.providers.imap.errors import imap_errors, is_temporary_refusal

SECURITY_CHOICES = ("ssl", "starttls", "none")
CONNECT_TIMEOUT = 20.0
READ_TIMEOUT = 180.0
# Response codes (RFC 5530) that mean "try again later" rather than "never".
# How many Message-IDs one SEARCH asks about (an OR tree); keeps command lines short.
SEARCH_BATCH = 25
FETCH_BATCH = 1000


def default_port(security: str) -> int:
    """The usual IMAP port for a security setting: 993 for SSL/TLS, else 143 (RFC 8314, 3501)."""
    return 993 if security == "ssl" else 143


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str
    login: str

    @classmethod
    def from_account(cls, account: MailAccount) -> ImapSettings:
        config = account.config or {}
        try:
            security = str(config.get("security", "ssl"))
            settings = cls(
                host=str(config["host"]),
                port=int(config.get("port") or default_port(security)),
                security=security,
                login=str(config.get("login") or account.address),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderPermanentError(
                f"The IMAP settings of {account.address} are incomplete ({exc})."
            ) from exc
        if settings.security not in SECURITY_CHOICES:
            raise ProviderPermanentError(f"Unknown IMAP security {settings.security!r}.")
        return settings


def ref_key(folder: str, uidvalidity: int, uid: int) -> str:
    """The provider key of an IMAP message: unique per account, stable while UIDVALIDITY holds."""
    return f"imap:{folder}:{uidvalidity}:{uid}"


def connect(settings: ImapSettings, password: str) -> IMAPClient:
    """A logged-in client; raises the typed provider errors."""
    with imap_errors("connecting"):
        timeout = SocketTimeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
        # create_default_context verifies the certificate and host name (and honours
        # SSL_CERT_FILE, which is how tests trust their throw-away CA).
        context = ssl.create_default_context() if settings.security != "none" else None
        client = IMAPClient(
            settings.host,
            port=settings.port,
            ssl=settings.security == "ssl",
            ssl_context=context,
            timeout=timeout,
        )
        quiet_protocol_trace(client)
        try:
            if settings.security == "starttls":
                client.starttls(context)
            client.login(settings.login, password)
        except BaseException:
            _shutdown(client)
            raise
    client.normalise_times = False  # keep INTERNALDATE timezone-aware
    return client


def quiet_protocol_trace(client: IMAPClient) -> None:
    """Turn imaplib's protocol trace off unless someone reads it.

    imapclient sets imaplib's documented ``debug`` level to 5 and sends the trace to its
    ``imapclient.imaplib`` logger. At that level imaplib formats the ``repr`` of every
    untagged response as it stores it and again as it hands the answer over — for a
    ``FETCH BODY[]`` that is every message's bytes, twice, whether or not the logger shows
    DEBUG: 80% of the CPU of reading a first sync (2.7 of 3.4 s per 10,000 messages). The
    trace is kept when that logger shows DEBUG (turning IMAP debugging on still works)."""
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        client._imap.debug = 0


def disconnect(client: IMAPClient) -> None:
    try:
        client.logout()
    except (IMAPClientError, OSError, imaplib.IMAP4.error):
        _shutdown(client)


def _shutdown(client: IMAPClient) -> None:
    with suppress(OSError, imaplib.IMAP4.error):
        client.shutdown()


def has(client: IMAPClient, capability: str) -> bool:
    return client.has_capability(capability)


# --- UID sets and untagged responses ----------------------------------------------------
_RANGE = re.compile(rb"^(\d+)(?::(\d+))?$")


def parse_uid_set(raw: bytes | str) -> list[int]:
    """``b"1:3,7"`` → ``[1, 2, 3, 7]`` in the order given (COPYUID pairs by position)."""
    data = raw.encode() if isinstance(raw, str) else raw
    uids: list[int] = []
    for part in data.strip().split(b","):
        match = _RANGE.match(part.strip())
        if not match:
            continue
        start = int(match.group(1))
        end = int(match.group(2) or start)
        step = 1 if end >= start else -1
        uids.extend(range(start, end + step, step))
    return uids


def take_untagged(client: IMAPClient, name: str) -> list[bytes]:
    """Pop untagged data imapclient does not return (COPYUID, VANISHED) from imaplib's store.

    imaplib files every ``* NAME …`` line and every ``[CODE …]`` response code under its
    name; imapclient has no public accessor for these two.
    """
    raw = client._imap.untagged_responses.pop(name, [])
    return [item for item in raw if isinstance(item, bytes)]


def clear_untagged(client: IMAPClient, *names: str) -> None:
    for name in names:
        client._imap.untagged_responses.pop(name, None)


def copyuid_map(client: IMAPClient) -> tuple[int | None, dict[int, int]]:
    """(destination UIDVALIDITY, source uid → destination uid) from the last COPY/MOVE."""
    mapping: dict[int, int] = {}
    dest_validity: int | None = None
    for item in take_untagged(client, "COPYUID"):
        parts = item.split()
        if len(parts) != 3:
            continue
        dest_validity = int(parts[0])
        mapping.update(zip(parse_uid_set(parts[1]), parse_uid_set(parts[2]), strict=False))
    return dest_validity, mapping


def uid_ranges(uids: Sequence[int]) -> list[str]:
    """``[1, 2, 3, 7]`` → ``["1:3", "7"]``: compact UID sets for MOVE/COPY/STORE/EXPUNGE."""
    ranges: list[str] = []
    ordered = sorted(set(uids))
    start = previous = None
    for uid in ordered:
        if start is None:
            start = previous = uid
        elif uid == previous + 1:  # type: ignore[operator]
            previous = uid
        else:
            ranges.append(f"{start}:{previous}" if start != previous else str(start))
            start = previous = uid
    if start is not None:
        ranges.append(f"{start}:{previous}" if start != previous else str(start))
    return ranges


def chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# --- Message-IDs ---------------------------------------------------------------------------
MESSAGE_ID_FIELD = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
_MESSAGE_ID_KEY = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"


_MESSAGE_ID_LINE = re.compile(r"^Message-ID:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def message_id_of_header(header: bytes) -> str:
    """The normalized Message-ID of a fetched ``HEADER.FIELDS (MESSAGE-ID)`` block.

    Read by hand, not with email's compat32 parser: that one turns a non-ASCII (RFC 6532,
    UTF-8) Message-ID into a Header of "unknown-8bit" whose text is mangled, so the id would
    never match the one the pull stored. clean_text decodes the raw bytes (UTF-8, else Latin-1).
    """
    match = _MESSAGE_ID_LINE.search(header.decode("ascii", "surrogateescape"))
    if not match:
        return ""
    return normalize_message_id(clean_text(re.sub(r"\r?\n[ \t]", " ", match.group(1))))


def message_id_of_fetch(data: dict[bytes, object]) -> str:
    """The normalized Message-ID in one message's FETCH answer for ``MESSAGE_ID_FIELD``."""
    header = data.get(_MESSAGE_ID_KEY, b"") or b""
    return message_id_of_header(header if isinstance(header, bytes) else b"")


def fetch_message_ids(client: IMAPClient, uids: Sequence[int]) -> dict[int, str]:
    """uid → normalized Message-ID ("" when the message has none) for the selected folder."""
    found: dict[int, str] = {}
    for batch in chunks(sorted(set(uids)), FETCH_BATCH):
        for uid, data in client.fetch(batch, [MESSAGE_ID_FIELD]).items():
            header = data.get(_MESSAGE_ID_KEY, b"") or b""
            found[uid] = message_id_of_header(header)
    return found


def _or_tree(message_ids: list[str]) -> list[object]:
    if len(message_ids) == 1:
        return ["HEADER", "Message-ID", message_ids[0]]
    middle = len(message_ids) // 2
    return ["OR", _or_tree(message_ids[:middle]), _or_tree(message_ids[middle:])]


NOT_ASCII = "the server searches US-ASCII only and this Message-ID is not ASCII: it cannot be located"


class SearchRefused(IMAPClientError):
    """The server would not search for some Message-IDs (a NO, or ``[BADCHARSET]`` for a
    non-ASCII one on a US-ASCII-only server such as Exchange).

    It is an ``IMAPClientError`` so every caller that treats a refused command as "this
    check is incomplete" does so here too. ``refused`` maps each Message-ID that could not
    be looked for to the reason; ``found`` holds what the other searches did find.
    """

    def __init__(self, refused: dict[str, str], found: dict[str, list[int]]) -> None:
        first = next(iter(refused.values()), "")
        super().__init__(f"{len(refused)} Message-ID(s) could not be searched for: {first}")
        self.refused = refused
        self.found = found


@dataclass
class MessageIdSearch:
    """What ``search_message_ids`` found: live UIDs per Message-ID, and the Message-IDs the
    server would not search for (with the reason) — those are unknown, never "absent"."""

    found: dict[str, list[int]]
    refused: dict[str, str]


def search_message_ids(client: IMAPClient, message_ids: Sequence[str]) -> MessageIdSearch:
    """Live (not ``\\Deleted``) UIDs in the selected folder whose Message-ID is exactly each
    of ``message_ids``; a refusal costs only the Message-IDs it was about.

    A message flagged ``\\Deleted`` is on its way out (any client's EXPUNGE removes it): it
    is no copy to rely on, so every search here is ``UNDELETED``. HEADER search matches
    substrings, so every hit is confirmed by fetching its header. Message-IDs are asked
    about in OR trees of ``SEARCH_BATCH``; when the server refuses a batch, each of its
    Message-IDs is asked about alone so one bad apple does not spoil the rest.
    ``NO [BADCHARSET]`` to a UTF-8 search (US-ASCII-only servers) falls back to an ASCII
    search; a non-ASCII Message-ID cannot be looked for there and is reported as refused.
    """
    wanted = sorted({m for m in message_ids if m})
    result = MessageIdSearch({m: [] for m in wanted}, {})
    plain = [m for m in wanted if m.isascii()]
    # ASCII ones in OR trees; a non-ASCII one alone, flat, with CHARSET UTF-8: imapclient
    # drops the charset inside nested criteria and glues the closing parenthesis into an
    # 8-bit literal, so a non-ASCII id can only be asked about at the top level.
    pending: list[list[str]] = [plain[i : i + SEARCH_BATCH] for i in range(0, len(plain), SEARCH_BATCH)]
    pending += [[m] for m in wanted if not m.isascii()]
    pending.reverse()
    ascii_only = False
    while pending:
        group = pending.pop()
        utf8 = not group[0].isascii()
        if utf8 and ascii_only:
            result.refused[group[0]] = NOT_ASCII
            continue
        criteria: list[object] = (
            ["UNDELETED", "HEADER", "Message-ID", group[0]] if utf8 else ["UNDELETED", _or_tree(group)]
        )
        try:
            hits = client.search(criteria, charset="UTF-8" if utf8 else None)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError) or is_temporary_refusal(exc):
                raise
            if utf8 and "BADCHARSET" in str(exc).upper():
                ascii_only = True  # say so once; the other non-ASCII ones are not tried
                result.refused[group[0]] = NOT_ASCII
            elif len(group) > 1:
                pending.extend([m] for m in group)  # one bad apple must not spoil the rest
            else:
                result.refused[group[0]] = f"the server refused the search: {_reason(exc)}"
            continue
        if not hits:
            continue
        read, unreadable = read_around_refusals(lambda part: fetch_message_ids(client, part), hits)
        if unreadable:
            # A hit the server will not return: whose Message-ID it carries is unknown. Ask
            # about each Message-ID alone, so only the one(s) it may be are "not known".
            if len(group) > 1:
                pending.extend([m] for m in group)
            else:
                reason = next(iter(unreadable.values()))
                result.refused[group[0]] = f"a message it may be could not be read: {reason}"
            continue
        for uid, mid in read.items():
            if mid in result.found:
                result.found[mid].append(uid)
    for mid in result.refused:
        result.found.pop(mid, None)
    return result


def find_by_message_ids(client: IMAPClient, message_ids: Sequence[str]) -> dict[str, list[int]]:
    """Live (not ``\\Deleted``) UIDs in the selected folder whose Message-ID is exactly each
    of ``message_ids``.

    Raises ``SearchRefused`` (an ``IMAPClientError``) when some could not be searched for:
    an empty list must only ever mean "looked, and not here".
    """
    search = search_message_ids(client, message_ids)
    if search.refused:
        raise SearchRefused(search.refused, search.found)
    return search.found


@dataclass(frozen=True)
class LiveMessage:
    message_id: str
    size: int


def fetch_live_messages(client: IMAPClient, uids: Sequence[int]) -> dict[int, LiveMessage]:
    """uid → (Message-ID, RFC822.SIZE) of the messages at ``uids`` that are not flagged
    ``\\Deleted`` in the selected folder (a flagged one is no copy to rely on)."""
    found: dict[int, LiveMessage] = {}
    for batch in chunks(sorted(set(uids)), FETCH_BATCH):
        for uid, data in client.fetch(batch, ["FLAGS", "RFC822.SIZE", MESSAGE_ID_FIELD]).items():
            flags = {
                f.lower() if isinstance(f, bytes) else str(f).encode().lower() for f in data.get(b"FLAGS", ())
            }
            if b"\\deleted" in flags:
                continue
            header = data.get(_MESSAGE_ID_KEY, b"") or b""
            found[uid] = LiveMessage(message_id_of_header(header), int(data.get(b"RFC822.SIZE") or 0))
    return found


_Read = TypeVar("_Read")


def read_around_refusals(
    read: Callable[[list[int]], dict[int, _Read]],
    uids: Sequence[int],
    *,
    after_hangup: Callable[[], None] | None = None,
) -> tuple[dict[int, _Read], dict[int, str]]:
    """``read(uids)`` for the selected folder, where one message the server will not return
    costs only that message: a refused read (``NO``/``BAD``) of several UIDs is split in
    halves until the refused ones are found. Returns what was read and {uid: reason}.

    When every UID of several is refused with a "not now" code (``[UNAVAILABLE]``,
    ``[SERVERBUG]``…), that is the server, not the messages: the first refusal is raised.
    A dropped connection (``IMAPClientAbortError``; Dovecot hangs up on a message file it
    cannot open) is raised, unless ``after_hangup`` logs in again and selects the folder
    again (it raises when that may not be tried any more): then it is narrowed like a NO.
    """
    wanted = sorted(set(uids))
    first: list[IMAPClientError] = []

    def narrow(part: list[int]) -> tuple[dict[int, _Read], dict[int, str]]:
        try:
            return read(part), {}
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                if after_hangup is None:
                    raise
                after_hangup()
                reason = f"the server closed the connection when asked for it: {_reason(exc)}"
            else:
                first.append(exc)
                reason = _reason(exc)
            if len(part) == 1:
                return {}, {part[0]: reason}
        middle = len(part) // 2
        found, refused = narrow(part[:middle])
        more, more_refused = narrow(part[middle:])
        return {**found, **more}, {**refused, **more_refused}

    if not wanted:
        return {}, {}
    found, refused = narrow(wanted)
    if len(wanted) > 1 and len(refused) == len(wanted) and first and is_temporary_refusal(first[0]):
        raise first[0]
    return found, refused


def folder_uid_state(client: IMAPClient, folder: str) -> tuple[int, int]:
    """(UIDVALIDITY, UIDNEXT) of a folder without selecting it (STATUS)."""
    status = client.folder_status(folder, [b"UIDVALIDITY", b"UIDNEXT"])
    return int(status[b"UIDVALIDITY"]), int(status[b"UIDNEXT"])


def _reason(exc: BaseException) -> str:
    return clean_text(" ".join(str(a.decode() if isinstance(a, bytes) else a) for a in exc.args) or repr(exc))
