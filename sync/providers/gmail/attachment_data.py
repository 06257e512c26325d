"""The file inside a ``messages.attachments.get`` answer, decoded as the answer arrives.

Gmail answers an attachment as one JSON object, ``{"attachmentId": …, "size": N, "data":
"<base64url>"}``, keys in any order. ``decode_data_field`` reads that answer chunk by chunk
(``GmailClient.stream``): a small scanner follows the object's structure, hands the bytes of
the top-level ``data`` string to a base64url decoder in ``DECODE_CHUNK`` pieces as they come,
and keeps everything else (a few dozen bytes) to check at the end. So neither the answer nor
the file is ever whole in memory.

Strict, because what it yields is kept as the file: anything in ``data`` that is not
base64url (a JSON escape included — base64url never needs one), an answer that is not one
JSON object, a missing ``data`` for a non-empty file, or a decoded length other than
``size`` raises ``GmailAttachmentDataError``. ``inbox.attachments.keep`` spools what it is
given and stores it only once the iteration ends without an error, so nothing partial is kept.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Generator, Iterable, Iterator

from sync.errors import ProviderPermanentError

# Base64url characters decoded at a time (a multiple of 4): 1 MB of file per piece.
DECODE_CHUNK = 4 * 350_000
# Whatever of the answer is not the data (keys, size, attachmentId) is kept to be checked;
# more than this is not an attachments.get answer.
MAX_OUTSIDE_BYTES = 64 * 1024
# A bytes answer handed in whole (tests, small answers) is fed in pieces of this size.
FEED_BYTES = 64 * 1024

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_WHITESPACE = b" \t\r\n"


class GmailAttachmentDataError(ProviderPermanentError):
    """Gmail's attachments.get answer could not be read as the file it should hold."""


def decode_data_field(answer: bytes | Iterable[bytes]) -> Iterator[bytes]:
    """The decoded ``data`` of an attachments.get answer, given whole or in chunks."""
    if isinstance(answer, bytes | bytearray):
        whole = bytes(answer)
        answer = (whole[i : i + FEED_BYTES] for i in range(0, len(whole), FEED_BYTES))
    scanner = _Scanner()
    for chunk in answer:
        yield from scanner.feed(chunk)
    scanner.finish()


class _Scanner:
    """Just enough of a JSON tokenizer to find the top-level ``"data"`` string: where each
    string starts and ends, the depth, and whether a top-level string is a key. The bytes
    around the data value are copied to ``outside`` (with the value left empty) and parsed
    with ``json`` at the end, which checks the rest of the answer strictly."""

    def __init__(self) -> None:
        self.outside = bytearray()
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.expect_key = False
        self.key = bytearray()  # the top-level key being read
        self.last_key = b""
        self.in_data = False
        self.data_seen = False
        self.pending = bytearray()  # base64url not decoded yet
        self.decoded = 0

    # -- the structure around the data -------------------------------------------------
    def feed(self, chunk: bytes) -> Iterator[bytes]:
        i, end = 0, len(chunk)
        while i < end:
            if self.in_data:
                i = yield from self._data(chunk, i)
                continue
            byte = chunk[i]
            i += 1
            self._keep_outside(byte)
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif byte == 0x5C:  # backslash
                    self.escaped = True
                elif byte == 0x22:  # the closing quote
                    self.in_string = False
                    if self.depth == 1 and self.expect_key:
                        self.last_key = bytes(self.key)
                        self.expect_key = False
                    continue
                if self.depth == 1 and self.expect_key and len(self.key) < 64:
                    self.key.append(byte)
                continue
            if byte == 0x22:  # an opening quote
                if self.depth == 1 and not self.expect_key and self.last_key == b"data":
                    if self.data_seen:
                        raise GmailAttachmentDataError("Gmail's answer has the attachment's data twice.")
                    self.in_data = self.data_seen = True
                    continue
                self.in_string = True
                self.key.clear()
            elif byte in b"{[":
                self.depth += 1
                if self.depth == 1:
                    if byte != 0x7B:
                        raise GmailAttachmentDataError("Gmail's attachment answer is not a JSON object.")
                    self.expect_key = True
            elif byte in b"}]":
                self.depth -= 1
            elif byte == 0x2C and self.depth == 1:  # a comma between members
                self.expect_key = True
                self.last_key = b""

    def _keep_outside(self, byte: int) -> None:
        if len(self.outside) >= MAX_OUTSIDE_BYTES:
            raise GmailAttachmentDataError("Gmail's attachment answer holds more than the file and its size.")
        self.outside.append(byte)

    # -- the data ------------------------------------------------------------------------
    def _data(self, chunk: bytes, start: int) -> Generator[bytes, None, int]:
        """Take the data string's bytes from ``start`` to its closing quote or the chunk's
        end, decoding whole pieces; return where the scan goes on."""
        quote = chunk.find(b'"', start)
        stop = len(chunk) if quote < 0 else quote
        backslash = chunk.find(b"\\", start, stop)
        if backslash >= 0:
            raise GmailAttachmentDataError(
                "Gmail's attachment data has a JSON escape in it, which base64url never needs: "
                "the download is refused rather than kept with a guess in it."
            )
        self.pending += chunk[start:stop]
        # At least 4 characters stay behind, so a piece never holds the final padding.
        while len(self.pending) - 4 >= DECODE_CHUNK:
            yield self._decode(bytes(self.pending[:DECODE_CHUNK]))
            del self.pending[:DECODE_CHUNK]
        if quote < 0:
            return len(chunk)
        tail = bytes(self.pending).rstrip(b"=")
        if len(self.pending) - len(tail) > 2 or len(tail) % 4 == 1:
            raise GmailAttachmentDataError("Gmail's attachment data does not end as base64url does.")
        self.pending.clear()
        if tail:
            yield self._decode(tail, final=True)
        self.in_data = False
        self.outside += b'"'  # the value, left empty, for the check at the end
        return quote + 1

    def _decode(self, piece: bytes, *, final: bool = False) -> bytes:
        stray = piece.translate(None, _ALPHABET)
        if stray:
            raise GmailAttachmentDataError(
                f"Gmail sent attachment data that is not base64url (found {stray[:1]!r})."
            )
        if final:
            piece += b"=" * (-len(piece) % 4)
        try:
            data = binascii.a2b_base64(piece.translate(_TO_STANDARD), strict_mode=True)
        except binascii.Error as exc:
            text = f"Gmail sent attachment data that is not base64url: {exc}"
            raise GmailAttachmentDataError(text) from exc
        self.decoded += len(data)
        return data

    # -- the end -------------------------------------------------------------------------
    def finish(self) -> None:
        if self.in_data or self.in_string or self.depth != 0 or not self.outside.strip(_WHITESPACE):
            raise GmailAttachmentDataError("Gmail's attachment answer ended before it was complete.")
        try:
            answer = json.loads(bytes(self.outside))
        except ValueError as exc:
            raise GmailAttachmentDataError(f"Gmail's attachment answer is not valid JSON: {exc}") from exc
        if not isinstance(answer, dict):
            raise GmailAttachmentDataError("Gmail's attachment answer is not a JSON object.")
        if answer.get("data", "") != "":  # a "data" key written with escapes: never streamed
            raise GmailAttachmentDataError("Gmail's attachment answer names its data in an unexpected way.")
        size = answer.get("size")
        try:
            expected = int(size) if size is not None else None
        except (TypeError, ValueError):
            raise GmailAttachmentDataError(f"Gmail's attachment answer has a size of {size!r}.") from None
        if not self.data_seen and expected != 0:
            raise GmailAttachmentDataError("Gmail answered without the attachment's data.")
        if expected is not None and expected != self.decoded:
            raise GmailAttachmentDataError(
                f"Gmail's attachment data decodes to {self.decoded} bytes, not the {expected} it announced."
            )
