"""Talking IMAP with imapclient: connecting, typed errors, and small protocol helpers
shared by the pull and the push side."""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from email.parser import BytesHeaderParser

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientError

from inbox.models import MailAccount
from sync.errors import ProviderPermanentError
from sync.mime import clean_text, normalize_message_id
from sync.providers.imap.errors import imap_errors

SECURITY_CHOICES = ("ssl", "starttls", "none")
CONNECT_TIMEOUT = 20.0
READ_TIMEOUT = 180.0
# Response codes (RFC 5530) that mean "try again later" rather than "never".
# How many Message-IDs one SEARCH asks about (an OR tree); keeps command lines short.
SEARCH_BATCH = 25
FETCH_BATCH = 1000
_HEADER_PARSER = BytesHeaderParser()


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
                port=int(config.get("port") or (993 if security == "ssl" else 143)),
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
        try:
            if settings.security == "starttls":
                client.starttls(context)
            client.login(settings.login, password)
        except BaseException:
            _shutdown(client)
            raise
    client.normalise_times = False  # keep INTERNALDATE timezone-aware
    return client


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


def fetch_message_ids(client: IMAPClient, uids: Sequence[int]) -> dict[int, str]:
    """uid → normalized Message-ID ("" when the message has none) for the selected folder."""
    found: dict[int, str] = {}
    for batch in chunks(sorted(set(uids)), FETCH_BATCH):
        for uid, data in client.fetch(batch, [MESSAGE_ID_FIELD]).items():
            header = data.get(_MESSAGE_ID_KEY, b"") or b""
            value = _HEADER_PARSER.parsebytes(header).get("Message-ID", "")
            found[uid] = normalize_message_id(clean_text(value))
    return found


def _or_tree(message_ids: list[str]) -> list[object]:
    if len(message_ids) == 1:
        return ["HEADER", "Message-ID", message_ids[0]]
    middle = len(message_ids) // 2
    return ["OR", _or_tree(message_ids[:middle]), _or_tree(message_ids[middle:])]


def find_by_message_ids(client: IMAPClient, message_ids: Sequence[str]) -> dict[str, list[int]]:
    """UIDs in the selected folder whose Message-ID is exactly each of ``message_ids``.

    HEADER search matches substrings, so every hit is confirmed by fetching its header.
    """
    wanted = sorted({m for m in message_ids if m})
    result: dict[str, list[int]] = {m: [] for m in wanted}
    for start in range(0, len(wanted), SEARCH_BATCH):
        batch = wanted[start : start + SEARCH_BATCH]
        charset = None if all(m.isascii() for m in batch) else "UTF-8"
        hits = client.search(_or_tree(batch), charset=charset)
        if not hits:
            continue
        for uid, mid in fetch_message_ids(client, hits).items():
            if mid in result:
                result[mid].append(uid)
    return result
