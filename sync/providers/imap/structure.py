"""A message above the body cap, read from its ``BODYSTRUCTURE`` instead of its bytes.

The server describes every part (type, parameters, Content-ID, transfer encoding, size,
disposition) without sending it. From that the pull lists each attachment — with the body
section number a later download asks for (``BODY.PEEK[2]``) — and picks the small text
parts worth fetching, so the conversation shows the text and every file of a 30 MB mail
while only its headers and a few kilobytes of text cross the wire.

Each part's fields are turned back into a header-only MIME part and read by ``sync.mime``:
names (Content-Disposition ``filename`` or Content-Type ``name``, RFC 2231 and RFC 2047
encodings), the inline rule and "is it a file or the body" are decided exactly as for a
message fetched whole.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from email.utils import quote
from typing import Any

from sync.mime import MAX_ATTACHMENTS, clean_text, describe_attachment, header_only_part, is_attachment

# Text parts of an over-cap message fetched for the conversation, in all (bytes on the wire).
TEXT_FETCH_BYTES = 2 * 1024 * 1024
_TEXT_TYPES = ("text/plain", "text/html")


@dataclass(frozen=True)
class StructurePart:
    """One leaf of a BODYSTRUCTURE: its section number, header-only MIME part, and the
    size the server gave (octets as stored, i.e. still transfer-encoded)."""

    section: str
    headers: Message
    size: int

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type()

    @property
    def encoding(self) -> str:
        return str(self.headers.get("Content-Transfer-Encoding", "") or "").strip().lower()


@dataclass(frozen=True)
class Listing:
    texts: list[StructurePart]
    attachments: list[dict[str, object]]


def leaves(body: Sequence[Any], number: str = "") -> Iterator[StructurePart]:
    """The leaf parts with their IMAP section numbers, numbered as ``sync.mime`` numbers a
    fetched message (RFC 3501: a single-part message's body is "1"). An attached
    message/rfc822 is one leaf: downloading its section gives the whole .eml."""
    if body and isinstance(body[0], list):  # multipart: [children], subtype, params, ...
        for index, child in enumerate(body[0], 1):
            yield from leaves(child, f"{number}.{index}" if number else str(index))
        return
    yield StructurePart(number or "1", part_headers(body), _int(_at(body, 6)))


def listing(body: Sequence[Any], *, text_budget: int = TEXT_FETCH_BYTES) -> Listing:
    """The text parts to fetch (within ``text_budget`` bytes) and the files to list."""
    texts: list[StructurePart] = []
    attachments: list[dict[str, object]] = []
    budget = text_budget
    parts = list(leaves(body))
    for part in parts:
        top = len(parts) == 1 and part.section == "1"
        if not is_attachment(part.headers, top=top) and part.content_type in _TEXT_TYPES:
            if part.size <= budget:
                texts.append(part)
                budget -= part.size
        elif len(attachments) < MAX_ATTACHMENTS:
            attachments.append(
                describe_attachment(part.headers, part.section, decoded_size(part.size, part.encoding))
            )
    return Listing(texts, attachments)


def part_headers(body: Sequence[Any]) -> Message:
    """A body-type-basic/-text/-msg (RFC 3501 §7.4.2) as a header-only MIME part:
    type/subtype(params) [id] [description] encoding size … [disposition] at index 8 (basic),
    9 (text, after its line count) or 11 (message/rfc822, after envelope, body and lines)."""
    maintype = _str(_at(body, 0)).lower() or "application"
    subtype = _str(_at(body, 1)).lower() or "octet-stream"
    headers = [("Content-Type", f"{maintype}/{subtype}{_params(_at(body, 2))}")]
    content_id = _str(_at(body, 3))
    if content_id:
        headers.append(("Content-ID", content_id))
    encoding = _str(_at(body, 5))
    if encoding:
        headers.append(("Content-Transfer-Encoding", encoding))
    extension = 8
    if maintype == "text":
        extension = 9
    elif (maintype, subtype) in (("message", "rfc822"), ("message", "global")):
        extension = 11
    disposition = _at(body, extension)
    if isinstance(disposition, tuple | list) and disposition and isinstance(disposition[0], bytes | str):
        headers.append(
            ("Content-Disposition", f"{_str(disposition[0]).lower()}{_params(_at(disposition, 1))}")
        )
    return header_only_part(headers)


def text_only_message(header_block: bytes, texts: Sequence[tuple[StructurePart, bytes]]) -> bytes:
    """The message's own headers (its MIME structure headers left out) and its fetched text
    parts, each with its original Content-Type and transfer encoding: small, parsed whole."""
    lines = [
        line
        for line in _unfolded(header_block)
        if line.strip() and not line.lower().startswith((b"content-", b"mime-version"))
    ]
    # Random: a text part cannot end the structure early by containing the boundary.
    boundary = f"sales-inbox-{secrets.token_hex(12)}".encode()
    out = [
        b"\r\n".join(lines),
        b'\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n',
    ]
    for part, data in texts:
        head = [f"Content-Type: {part.headers.get('Content-Type')}"]
        if part.encoding:
            head.append(f"Content-Transfer-Encoding: {part.encoding}")
        out.append(b"--" + boundary + b"\r\n" + "\r\n".join(head).encode("utf-8", "replace") + b"\r\n\r\n")
        out.append(data.rstrip(b"\r\n") + b"\r\n")
    out.append(b"--" + boundary + b"--\r\n")
    return b"".join(out)


def decoded_size(size: int, encoding: str) -> int:
    """About how many bytes a part of ``size`` stored octets decodes to: base64 lines are 76
    characters and a CRLF (the exact size is known once the file is kept)."""
    if encoding == "base64" and size > 0:
        lines = math.ceil(size / 78)
        return max(0, (size - 2 * lines) * 3 // 4)
    return size


def _unfolded(block: bytes) -> list[bytes]:
    """Header lines with their continuation lines joined (a folded Content-Type must go whole)."""
    out: list[bytes] = []
    for line in block.replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += b"\r\n" + line
        else:
            out.append(line)
    return out


def _params(values: object) -> str:
    """``(name value name value …)`` as ``; name="value"`` (quoted, so any value survives;
    ``sync.mime`` decodes RFC 2231 ``name*`` forms and RFC 2047 words from it)."""
    if not isinstance(values, tuple | list):
        return ""
    out = []
    for name, value in zip(values[::2], values[1::2], strict=False):
        key = "".join(ch for ch in _str(name) if ch.isprintable() and ch not in ' ;="\\')
        if key:
            out.append(f'; {key}="{quote(_str(value))}"')
    return "".join(out)


def _at(values: Sequence[Any], index: int) -> Any:
    return values[index] if len(values) > index else None


def _str(value: object) -> str:
    if isinstance(value, bytes):
        return clean_text(value.decode("utf-8", "surrogateescape"))
    return "" if value is None else clean_text(str(value))


def _int(value: object) -> int:
    try:
        return max(0, int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
