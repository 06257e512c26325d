"""Raw RFC 5322 bytes → ``inbox.types.ParsedMessage``, with the standard ``email`` package.

Real mailboxes hold everything: unknown charsets, raw 8-bit headers, NUL bytes, broken
dates, missing Message-IDs, 40 MB attachments. Parsing never raises for such input: what
can be read is returned and every shortcut taken is listed in ``problems`` so the app can
say "this message was imported with problems". Only a bug (or input so broken that the
``email`` package itself fails) raises, and the caller quarantines the message then.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.headerregistry import Address as HeaderAddress
from email.headerregistry import BaseHeader
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from html.parser import HTMLParser

from django.utils import timezone

from inbox.types import Address, ParsedMessage

# Bodies above this are cut (the full message stays at the provider); keeps rows sane.
MAX_BODY_CHARS = 1_000_000
MAX_ATTACHMENTS = 200
# Hostile-input caps. The ``email`` package parses each part's and each header's structure
# in pure Python (about 1 ms per MIME part, 0.3 ms per address): past these sizes a message
# would take seconds, so it is read the cheap way and the shortcut is listed in problems.
MAX_MIME_PARTS = 500
MAX_HEADER_CHARS = 16_384
MAX_ADDRESSES = 1000
_BOUNDARY = re.compile(rb'boundary\s*=\s*"?([^"\s;]+)', re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]+>")
_SPACE = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_LINESEP = re.compile(r"\n|\r")  # what email.policy strips from a header value before parsing
# Header values up to this long are parsed once and the parsed header reused (see _Policy).
_CACHED_HEADER_CHARS = 1000


class _Policy(policy.EmailPolicy):
    """``policy.default``, except that a header is parsed once, not on every access.

    ``policy.default`` builds a new header object (a new class, and a full structured parse)
    each time a header is read, and the ``email`` package reads Content-Type about ten times
    per part while parsing and walking a message: that was most of a message's parse time.
    Parsed headers are immutable values of (name, value), so equal ones are shared."""

    def header_fetch_parse(self, name: str, value: str) -> BaseHeader:  # type: ignore[override]
        if hasattr(value, "name"):
            return value  # type: ignore[return-value]
        value = "".join(_LINESEP.split(value))
        if len(value) > _CACHED_HEADER_CHARS:
            return self.header_factory(name, value)  # type: ignore[no-any-return]
        return _parsed_header(self.header_factory, name, value)


@lru_cache(maxsize=4096)
def _parsed_header(factory: object, name: str, value: str) -> BaseHeader:
    return factory(name, value)  # type: ignore[operator,no-any-return]


_POLICY = _Policy()

# --- plain headers without the email package's header parser --------------------------------------
# Most headers of ordinary mail are plain ASCII: "Subject: Re: Quote", "From: Dana <dana@x.test>",
# "Message-ID: <abc@x.test>". For those, the structured parse of ``policy.default`` (a token
# tree per header, its defects collected recursively) was about half of a message's parse
# time, and its answer is known in advance: the value as written, the addresses as written.
# Each shortcut below is taken only for values in that narrow form, and gives exactly what the
# full parse gives (tests/test_mime_fast_paths.py compares the two); anything else — encoded
# words, 8-bit bytes, comments, quoting, groups, odd spacing — takes the full parse.

_PLAIN = re.compile(r"[ \t!-~]*")  # printable ASCII, spaces and tabs
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
# One mailbox: a bare address, or a display name of atoms with single spaces, or a quoted
# name without quotes or backslashes inside, then the address in angle brackets.
_PLAIN_MAILBOX = re.compile(
    rf' ?(?:({_ADDR_SPEC})|(?:({_ATOM}(?: {_ATOM})*)|"([ !#-\[\]-~]*)") ?<({_ADDR_SPEC})>) ?'
)
_PLAIN_MSGID = re.compile(rf"<{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>")


def _plain_value(raw: str) -> str | None:
    """The header value as the policy reads it (line breaks dropped), when it is plain
    ASCII without encoded words; None otherwise."""
    value = "".join(_LINESEP.split(raw)) if ("\r" in raw or "\n" in raw) else raw
    if "=?" in value or not _PLAIN.fullmatch(value):
        return None
    return value


def _plain_addresses(value: str) -> list[Address] | None:
    """The mailboxes of a plain address header, as the full parse reads them; None when the
    value is not a list of plain mailboxes."""
    found: list[Address] = []
    position, end = 0, len(value)
    while True:
        match = _PLAIN_MAILBOX.match(value, position)
        if match is None:
            return None
        bare, phrase, quoted, address = match.groups()
        if bare is not None:
            found.append(Address(bare.lower(), ""))
        else:
            found.append(Address(address.lower(), (phrase if phrase is not None else quoted).strip()))
        position = match.end()
        if position == end:
            return found
        if value[position] != ",":
            return None
        position += 1


def clean_text(value: object) -> str:
    """A str PostgreSQL accepts: no NUL bytes, no lone surrogates from undecodable bytes."""
    text = value if isinstance(value, str) else str(value or "")
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Raw 8-bit header bytes come back as surrogate escapes: most are UTF-8, the rest
        # are usually Latin-1 — never fail the message over it.
        raw = text.encode("utf-8", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def message_ids(value: str) -> list[str]:
    """All ``<id>`` tokens of a Message-ID / In-Reply-To / References header, in order."""
    return _MSGID.findall(value or "")


def normalize_message_id(value: str) -> str:
    """The first ``<id>`` token; a bare id gets its angle brackets back."""
    found = message_ids(value)
    if found:
        return found[0]
    bare = (value or "").strip()
    return f"<{bare}>" if bare and " " not in bare else ""


class _TextFromHtml(HTMLParser):
    """Visible text of an HTML body: enough for a snippet and search, not for display."""

    _SKIP = {"script", "style", "head", "title"}
    _BREAK = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def text_from_html(html: str) -> str:
    extractor = _TextFromHtml()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # HTMLParser is lenient; this is only a last line of defence
        return ""
    lines = (_SPACE.sub(" ", line).strip() for line in "".join(extractor.parts).splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _header(msg: Message, name: str, problems: list[str], raw_values: dict[str, str] | None = None) -> str:
    raw = _raw_header(msg, name, raw_values)
    if len(raw) > MAX_HEADER_CHARS:
        # Encoded-word bombs and 50,000-line foldings: decode only a cap's worth.
        problems.append(f"{name} header cut at {MAX_HEADER_CHARS:,} characters (it had {len(raw):,})")
        # References: the newest ids (the end) are the ones threading needs.
        cut = raw[-MAX_HEADER_CHARS:] if name.lower() == "references" else raw[:MAX_HEADER_CHARS]
        try:
            value = str(make_header(decode_header(cut)))
        except Exception:
            value = cut
        return _SPACE.sub(" ", clean_text(value).replace("\r", "").replace("\n", " ")).strip()
    plain = _plain_value(raw)
    if plain is not None and (name.lower() != "message-id" or _PLAIN_MSGID.fullmatch(plain)):
        # Unstructured (Subject, In-Reply-To, References) or a plain <id>: read as written.
        return _SPACE.sub(" ", plain).strip()
    try:
        value = str(msg.get(name) or "")
    except Exception as exc:  # policy.default parses lazily and may choke on a header
        problems.append(f"unreadable {name} header ({exc.__class__.__name__})")
        value = _raw_header(msg, name, raw_values)
    if "\ufffd" in value:
        # Raw 8-bit bytes (no RFC 2047 encoding) became replacement characters; the raw
        # value still has them as surrogate escapes, which clean_text decodes (UTF-8, else
        # Latin-1) — the common case of "Subject: Café" sent by a careless client.
        raw = _raw_header(msg, name, raw_values)
        if "=?" not in raw and any("\udc80" <= ch <= "\udcff" for ch in raw):
            value = raw
    return _SPACE.sub(" ", clean_text(value).replace("\r", "").replace("\n", " ")).strip()


def _raw_header(msg: Message, name: str, raw_values: dict[str, str] | None = None) -> str:
    """The first value of header ``name`` as written (what ``msg.get`` parses)."""
    if raw_values is not None:
        return raw_values.get(name.lower(), "")
    for key, value in msg.raw_items():  # type: ignore[attr-defined]
        if key.lower() == name.lower():
            return str(value)
    return ""


def _raw_values(msg: Message) -> dict[str, str]:
    """Each header's first value as written, by lowercase name: ``_raw_header`` for every
    name in one pass (parse_message reads eight headers; a scan each was 7% of a parse)."""
    found: dict[str, str] = {}
    for key, value in msg.raw_items():  # type: ignore[attr-defined]
        found.setdefault(key.lower(), str(value))
    return found


def _addresses(
    msg: Message, name: str, problems: list[str], raw_values: dict[str, str] | None = None
) -> list[Address]:
    raw_value = _raw_header(msg, name, raw_values)
    if len(raw_value) > MAX_HEADER_CHARS:
        # Thousands of recipients: the strict parser would take seconds, the lenient one is
        # linear; and a row per recipient beyond the cap helps no one.
        many = [
            Address(clean_text(email).strip().lower(), clean_text(name_).strip())
            for name_, email in getaddresses([clean_text(raw_value)])
            if email and "@" in email
        ]
        if len(many) > MAX_ADDRESSES:
            problems.append(f"{name} lists {len(many):,} addresses: the first {MAX_ADDRESSES:,} are kept")
        return many[:MAX_ADDRESSES]
    plain = _plain_value(raw_value)
    if plain is not None:
        quick = _plain_addresses(plain)
        if quick is not None:
            return quick
    try:
        header = msg.get(name)
        if header is None:
            return []
        found = getattr(header, "addresses", None)
        if found is not None and not getattr(header, "defects", None):
            return [_address(a) for a in found if isinstance(a, HeaderAddress) and a.addr_spec]
        raw = str(header)
    except Exception as exc:
        problems.append(f"unreadable {name} header ({exc.__class__.__name__})")
        raw = " ".join(str(v) for v in msg.get_all(name, failobj=[]))
    # Lenient second try for headers the strict parser flagged as defective.
    result = [
        Address(clean_text(email).strip().lower(), clean_text(name_).strip())
        for name_, email in getaddresses([clean_text(raw)])
        if email and "@" in email
    ]
    if not result and raw.strip():
        problems.append(f"no address could be read from the {name} header")
    return result


def _address(a: HeaderAddress) -> Address:
    return Address(clean_text(a.addr_spec).strip().lower(), clean_text(a.display_name).strip())


def _date(
    msg: Message, fallback: datetime | None, problems: list[str], raw_values: dict[str, str] | None = None
) -> datetime:
    raw = ""
    try:
        when = _plain_date(_raw_header(msg, "Date", raw_values))
        if when is None:
            raw = str(msg.get("Date") or "")
            when = parsedate_to_datetime(raw) if raw else None
    except Exception:
        when = None
    if when is None:
        problems.append(f"unreadable Date header {raw[:60]!r}" if raw else "no Date header")
        when = fallback or timezone.now()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when.year < 1970 or when.year > 9999:
        problems.append(f"implausible date {when.isoformat()}")
        when = fallback or timezone.now()
    return when


def _plain_date(raw: str) -> datetime | None:
    """The date of a plain Date header, as the full path reads it: the policy's date header
    holds the date read and written back in RFC 5322 form (``format_datetime``), which the
    full path parses again — to the same datetime (the year written with four digits, the
    offset as it was, naive for "-0000"), so this stops after the first read. None when the
    value is not plain or not a readable date: the full path decides what that gives."""
    plain = _plain_value(raw)
    if not plain:
        return None
    try:
        return parsedate_to_datetime(plain)
    except Exception:
        return None


def _content(part: Message, problems: list[str]) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        return clean_text(content)
    except Exception as exc:
        # Unknown charsets (LookupError) and broken transfer encodings end up here.
        problems.append(f"{part.get_content_type()} part decoded leniently ({exc.__class__.__name__})")
        payload = part.get_payload(decode=True) or b""
        if not isinstance(payload, bytes):
            payload = str(payload).encode("utf-8", "surrogateescape")
        charset = part.get_content_charset() or "utf-8"
        try:
            return clean_text(payload.decode(charset, "replace"))
        except (LookupError, ValueError):  # unknown name, or one with a NUL byte in it
            return clean_text(payload.decode("utf-8", "replace"))


# --- plain text parts without the email package's content manager ----------------------------------
# A body part declared as "text/plain; charset=utf-8" (or us-ascii, iso-8859-1), without a
# transfer encoding that changes its bytes and without a Content-Disposition, is the text of
# most mail. For it, ``is_attachment`` is False and ``get_content()`` is the payload's bytes
# decoded in that charset — but they take a dozen header lookups and parameter parses to
# say so. ``_simple_text`` gives the same answer from the raw headers when they are in that
# exact form, and None for anything else (the full path decides); tests/test_mime_text_parts.py
# compares the two.
_SIMPLE_CHARSET = r"(?:utf-8|us-ascii|iso-8859-1)"
_SIMPLE_TEXT_TYPE = re.compile(
    rf'(text/(?:plain|html)); ?charset=(?:"({_SIMPLE_CHARSET})"|({_SIMPLE_CHARSET}))', re.IGNORECASE
)
# Transfer encodings get_payload(decode=True) leaves as they are (it decodes quoted-printable,
# base64 and uuencode).
_IDENTITY_ENCODINGS = {"7bit", "8bit", "binary"}


def _simple_text(part: Message) -> tuple[str, str] | None:
    """(content type, text) of a plain text part, as ``is_attachment`` and ``_content`` read
    it; None when the part is not in that narrow form."""
    payload = part._payload  # type: ignore[attr-defined]
    if not isinstance(payload, str):
        return None
    content_type = encoding = None
    for key, value in part.raw_items():  # type: ignore[attr-defined]
        name = key.lower()
        if name == "content-type":
            if content_type is None:
                content_type = value
        elif name == "content-transfer-encoding":
            if encoding is None:
                encoding = value
        elif name == "content-disposition":
            return None  # may name a file or make it an attachment: the full path reads it
    if content_type is None or (encoding is not None and encoding.lower() not in _IDENTITY_ENCODINGS):
        return None
    match = _SIMPLE_TEXT_TYPE.fullmatch(content_type)
    if match is None:
        return None
    if payload.isascii():
        text = payload  # the bytes are ASCII, and each of these charsets reads ASCII as ASCII
    else:
        # What get_payload(decode=True) gives for the surrogate-escaped 8-bit bytes the
        # parser left; a str it could not encode fails the full path's way there.
        try:
            data = payload.encode("ascii", "surrogateescape")
        except UnicodeEncodeError:
            return None
        text = data.decode(match.group(2) or match.group(3), "replace")
    return match.group(1).lower(), clean_text(text)


def _filename(part: Message) -> str:
    try:
        return clean_text(part.get_filename() or "")
    except Exception:
        return ""


def _leaves(part: Message, number: str = "") -> Iterator[tuple[str, Message]]:
    """The leaf parts in ``Message.walk()`` order, each with its IMAP body section number
    (RFC 3501: "1", "2.1"; a single-part message's body is "1"; the parts of an attached
    message/rfc822 at "3" are "3.1", "3.2"). A provider fetches a part by this number."""
    if not part.is_multipart():
        yield number or "1", part
        return
    children = part.get_payload()
    if not isinstance(children, list):
        return
    if part.get_content_maintype() == "message" and number:
        # An encapsulated message: its own parts are numbered below this one.
        for inner in children:
            if not isinstance(inner, Message):
                continue
            if inner.is_multipart():
                for i, child in enumerate(inner.get_payload(), 1):
                    yield from _leaves(child, f"{number}.{i}")
            else:
                yield f"{number}.1", inner
        return
    for i, child in enumerate(children, 1):
        yield from _leaves(child, f"{number}.{i}" if number else str(i))


def _attachment(part: Message, number: str = "") -> dict[str, object]:
    size = _base64_size(part)
    if size is None:
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
    return describe_attachment(part, number, size)


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _base64_size(part: Message) -> int | None:
    """The length ``part.get_payload(decode=True)`` would have, for a well-formed base64 body,
    without decoding it: the files are fetched from the provider when opened, only their
    size is listed. None for anything else (another encoding, stray characters, bad padding,
    8-bit bytes): the caller decodes it as the ``email`` package does."""
    payload = part._payload  # type: ignore[attr-defined]
    if not isinstance(payload, str) or not payload.isascii():
        return None
    if str(part.get("content-transfer-encoding", "")).lower() != "base64":
        return None
    # What get_payload hands to the decoder: the lines joined. (bytes.splitlines splits on
    # CR, LF and CRLF only, so joining its lines is deleting every CR and LF: 10x faster.)
    encoded = payload.encode("ascii").replace(b"\r", b"").replace(b"\n", b"")
    data = encoded.rstrip(b"=")
    padding = len(encoded) - len(data)
    if len(encoded) % 4 or padding > 2 or data.translate(None, _BASE64_ALPHABET):
        return None
    # Every four characters are three bytes; each "=" stands for one byte fewer.
    return len(encoded) // 4 * 3 - padding


def describe_attachment(part: Message, number: str, size: int) -> dict[str, object]:
    """One attachment as the app lists it, from its part's headers. A provider that lists
    parts without their bytes (IMAP ``BODYSTRUCTURE``, Gmail's part tree) passes a header-only
    part and the size it reports, so the naming and inline rules are the same everywhere."""
    try:
        disposition = part.get_content_disposition() or ""
    except Exception:
        disposition = ""
    content_id = clean_text(part.get("Content-ID", "") or "").strip().strip("<>")
    return {
        "filename": _filename(part) or "(unnamed)",
        "content_type": part.get_content_type(),
        "size": size,
        # A part with a Content-ID and no "attachment" disposition is there to be shown in
        # the HTML (multipart/related), however its sender labelled it.
        "inline": disposition == "inline" or (bool(content_id) and disposition != "attachment"),
        "content_id": content_id,
        "part": number,
        "transfer_encoding": clean_text(part.get("Content-Transfer-Encoding", "") or "").strip().lower()[:40],
    }


_PART_HEADERS = ("content-type", "content-disposition", "content-id", "content-transfer-encoding")


def header_only_part(headers: Iterable[tuple[str, str]]) -> Message:
    """A body-less MIME part of a part's Content-* headers, as a provider described them
    (IMAP ``BODYSTRUCTURE``, Gmail's part tree): what ``describe_attachment`` and
    ``is_attachment`` read, decoded by the same ``email`` policy as a fetched message."""
    lines = []
    for name, value in headers:
        if name.strip().lower() in _PART_HEADERS:
            flat = " ".join(clean_text(value).split())
            lines.append(f"{name.strip()}: {flat}"[:MAX_HEADER_CHARS])
    block = "\r\n".join(lines) + "\r\n\r\n"
    return BytesHeaderParser(policy=policy.default).parsebytes(block.encode("utf-8"))


def is_attachment(part: Message, *, top: bool = False) -> bool:
    """Whether a leaf part is a file (listed) rather than the message's text or HTML body.
    ``top``: the part is the message itself (a single-part message)."""
    content_type = part.get_content_type()
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None
    named = bool(_filename(part))
    if not top and content_type == "message/rfc822":
        return True
    return (
        disposition == "attachment"
        or (named and disposition != "inline")
        or (content_type not in ("text/plain", "text/html") and content_type != "message/delivery-status")
    )


def _walk_body(msg: Message, problems: list[str]) -> tuple[str, str, list[dict[str, object]]]:
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[dict[str, object]] = []
    for number, part in _leaves(msg):
        simple = _simple_text(part)
        if simple is not None:
            (texts if simple[0] == "text/plain" else htmls).append(simple[1])
            continue
        content_type = part.get_content_type()
        listed = is_attachment(part, top=part is msg)
        if not listed and content_type == "text/plain":
            texts.append(_content(part, problems))
        elif not listed and content_type == "text/html":
            htmls.append(_content(part, problems))
        elif len(attachments) < MAX_ATTACHMENTS:
            attachments.append(_attachment(part, number))
        elif len(attachments) == MAX_ATTACHMENTS:
            problems.append(f"more than {MAX_ATTACHMENTS} attachments: the rest are not listed")
            attachments.append({"filename": "(more not listed)", "content_type": "", "size": 0})
    return "\n\n".join(t for t in texts if t), "\n".join(h for h in htmls if h), attachments


def _cut(value: str, what: str, problems: list[str]) -> str:
    if len(value) > MAX_BODY_CHARS:
        problems.append(f"{what} body cut at {MAX_BODY_CHARS:,} characters (it had {len(value):,})")
        return value[:MAX_BODY_CHARS]
    return value


class MessageTooComplex(ValueError):
    """More multiparts than anyone sends (a nesting bomb): quarantined without parsing."""


def count_mime_parts(raw: bytes) -> int:
    """Delimiter lines of the boundaries the message declares: about its number of parts.

    Hundreds of distinct boundaries mean nesting that deep that the ``email`` package would
    recurse until it fails, after seconds of work: that raises ``MessageTooComplex``.

    A cheap upper bound first (every line starting with ``--``), so ordinary mail and big
    attachments pay one ``bytes.count``.
    """
    # Each "\n--" holds two of the message's dashes: few dashes, few delimiter lines.
    # (Counting one byte is twice as fast as counting "\n--" in a big attachment.)
    if raw.count(b"-") <= 2 * MAX_MIME_PARTS + 1 or raw.count(b"\n--") <= MAX_MIME_PARTS:
        return 0
    boundaries = set(_BOUNDARY.findall(raw))
    if len(boundaries) > MAX_MIME_PARTS:
        raise MessageTooComplex(
            f"{len(boundaries):,} multipart boundaries (more than {MAX_MIME_PARTS}): nested too deep to read"
        )
    # A whole delimiter line only: boundary "n1" must not count the lines of "n10".
    return sum(
        raw.count(b"\n--" + boundary + end) for boundary in boundaries for end in (b"\r", b"\n", b"--")
    )


# --- long base64 bodies without the email package's line-by-line walk ------------------------------
# The email package's parser reads a message line by line in Python and, at the end of each
# part, searches the part's whole text for its last line break: a 150 KB attachment (2,000
# lines of base64) cost a parse worker ~4 ms, as much as ten plain messages. What the parser
# does with a run of such lines does not depend on how many there are: a line of nothing but
# base64 characters is never a header (no colon, no leading space or tab, not "From "), never
# a boundary (no leading "--") and never blank, so wherever it stands — a part's body, a
# preamble, an epilogue, the line that ends a header block without a blank line — k of them
# are read exactly as one of them is. So each long run goes to the parser as one placeholder
# line, and the run's text is put back where its placeholder ended up (always a payload, a
# preamble or an epilogue) before anything reads the message: the same tree, from a few
# dozen lines. Every placeholder must be found and put back exactly once, or the message is
# parsed whole instead (tests/test_mime_base64_runs.py compares the two ways).

# Messages below this size are parsed as they are (nothing to gain).
_ELIDE_MIN_BYTES = 32 * 1024
# Shorter runs are left to the parser.
_ELIDE_MIN_RUN = 8 * 1024
# A run is found by its first line of at least this many base64 characters (encoders write
# 76 or 64 a line); a body of shorter lines is parsed as it is.
_ELIDE_LINE_CHARS = 60
# Each byte of a message as the search for runs sees it: base64 characters → "a", CR and LF
# kept, anything else → "#". bytes.translate, bytes.find and one comparison do the work in C.
_RUN_VIEW = bytes(
    ord("a") if chr(b) in string.ascii_letters + string.digits + "+/=" else b if b in (10, 13) else ord("#")
    for b in range(256)
)
_LONG_LINE = b"a" * _ELIDE_LINE_CHARS
# The placeholder line: base64 characters too, so the parser reads it as it reads the run.
_PLACEHOLDER = "SiElidedBase64Run"
_PLACEHOLDER_NUMBER = re.compile(_PLACEHOLDER + r"(\d+)Z")


def _base64_runs(raw: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of runs of whole lines of the same length, each of nothing but base64
    characters and the same line ending (CRLF, LF or a lone CR: what the parser splits
    lines on), starting right after a line ending: the body of an attachment as encoders
    write it. A body of uneven lines is not a run (it is parsed as it is)."""
    view = raw.translate(_RUN_VIEW)
    size = len(view)
    position = 0
    while (hit := view.find(_LONG_LINE, position)) >= 0:
        start = max(view.rfind(b"\n", 0, hit), view.rfind(b"\r", 0, hit)) + 1
        ends = [found for found in (view.find(b"\n", hit), view.find(b"\r", hit)) if found >= 0]
        if not ends:
            return
        line_end = min(ends)
        position = line_end + 1
        if start == 0 or view.find(b"#", start, line_end) >= 0:
            continue  # the message's first line, or a line with other characters in it
        ending = b"\r\n" if view[line_end : line_end + 2] == b"\r\n" else view[line_end : line_end + 1]
        line = view[start:line_end] + ending
        stop = view.find(b"#", line_end)
        stop = size if stop < 0 else stop
        # The lines up to the next other character, less the last one or two (a shorter
        # last line, a blank line before a boundary): compared with that many copies of the
        # first line, byte for byte.
        count = (stop - start) // len(line)
        while count > 0 and view[start : start + count * len(line)] != line * count:
            count = count - 1 if count * len(line) > stop - start - 2 * len(line) else 0
        end = start + count * len(line)
        if ending == b"\r" and view[end : end + 1] == b"\n":
            end -= len(line)  # that CR and the next LF are one line ending: not this run's
        if end - start >= _ELIDE_MIN_RUN:
            position = end
            yield start, end
        else:
            position = max(position, stop)


def parse_mime(raw: bytes) -> EmailMessage:
    """``BytesParser(policy=...).parsebytes(raw)``: the same tree, built faster when the message
    holds long runs of base64 lines (see above)."""
    if len(raw) >= _ELIDE_MIN_BYTES and _PLACEHOLDER.encode() not in raw:
        try:
            msg = _parse_elided(raw)
        except Exception:  # whatever went wrong, the full parse decides (and may raise itself)
            msg = None
        if msg is not None:
            return msg
    return BytesParser(policy=_POLICY).parsebytes(raw)  # type: ignore[return-value]


def _parse_headers_only(raw: bytes) -> EmailMessage:
    return BytesHeaderParser(policy=_POLICY).parsebytes(raw)  # type: ignore[return-value]


def _parse_elided(raw: bytes) -> EmailMessage | None:
    pieces: list[bytes] = []
    runs: list[str] = []
    last = 0
    for start, end in _base64_runs(raw):
        ending = b"\r\n" if raw[end - 2 : end] == b"\r\n" else raw[end - 1 : end]
        pieces += [raw[last:start], b"%s%dZ" % (_PLACEHOLDER.encode(), len(runs)), ending]
        # The run without its last line ending: the placeholder line keeps that ending, so
        # wherever the parser drops a part's last line ending, it drops the same one.
        runs.append(raw[start : end - len(ending)].decode("ascii"))
        last = end
    if not runs:
        return None
    pieces.append(raw[last:])
    msg: EmailMessage = BytesParser(policy=_POLICY).parsebytes(b"".join(pieces))  # type: ignore[assignment]
    restored = 0

    def run_text(found: re.Match[str]) -> str:
        nonlocal restored
        restored += 1
        return runs[int(found.group(1))]

    for part in msg.walk():
        for name in ("_payload", "preamble", "epilogue"):
            value = getattr(part, name, None)
            if isinstance(value, str) and _PLACEHOLDER in value:
                setattr(part, name, _PLACEHOLDER_NUMBER.sub(run_text, value))
    if restored != len(runs):
        return None  # a placeholder ended up elsewhere (or nowhere): parse the message whole
    return msg


def parse_message(
    raw: bytes,
    *,
    own_addresses: list[str] | tuple[str, ...] = (),
    fallback_date: datetime | None = None,
    headers_only: bool = False,
    is_read: bool = False,
) -> ParsedMessage:
    """Parse one message. ``own_addresses`` decide the direction: From one of them = sent.

    ``headers_only`` is for messages too large to fetch whole: the caller passes just the
    header block and says so in ``problems`` itself.
    """
    problems: list[str] = []
    parts = 0 if headers_only else count_mime_parts(raw)
    if parts > MAX_MIME_PARTS:
        headers_only = True
        problems.append(
            f"{parts:,} MIME parts (more than {MAX_MIME_PARTS}): only the headers were read, "
            "the whole message stays at the provider"
        )
    msg = _parse_headers_only(raw) if headers_only else parse_mime(raw)
    defects = [d.__class__.__name__ for d in getattr(msg, "defects", [])]
    if defects:
        problems.append("MIME structure defects: " + ", ".join(sorted(set(defects))[:5]))

    raw_values = _raw_values(msg)
    message_id = normalize_message_id(_header(msg, "Message-ID", problems, raw_values))
    if not message_id:
        problems.append("no Message-ID header")
    senders = _addresses(msg, "From", problems, raw_values)
    sender = senders[0] if senders else None
    own = {a.lower() for a in own_addresses if a}
    text = html = ""
    attachments: list[dict[str, object]] = []
    if not headers_only:
        text, html, attachments = _walk_body(msg, problems)
        if not text and html:
            text = text_from_html(html)
        text = _cut(text, "text", problems)
        html = _cut(html, "HTML", problems)
    return ParsedMessage(
        message_id=message_id[:998],
        subject=_header(msg, "Subject", problems, raw_values)[:998],
        sender=sender,
        to=_addresses(msg, "To", problems, raw_values),
        cc=_addresses(msg, "Cc", problems, raw_values),
        date=_date(msg, fallback_date, problems, raw_values),
        text=text,
        html=html,
        in_reply_to=(message_ids(_header(msg, "In-Reply-To", problems, raw_values)) or [""])[0][:998],
        references=[r[:998] for r in message_ids(_header(msg, "References", problems, raw_values))][-100:],
        attachments=attachments,
        incoming=not (sender is not None and sender.email.lower() in own),
        is_read=is_read,
        problems=problems,
    )
