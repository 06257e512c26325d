"""Fetching one attachment's bytes from its provider (``settings.ATTACHMENT_FETCHER``).

``inbox.attachments.keep`` calls ``fetch_attachment`` on the first open of a file; each
adapter answers with the decoded bytes of that one part, in chunks, so a 40 MB file never
sits whole in memory (where the provider's protocol allows: see each adapter).
"""

from __future__ import annotations

import base64
import binascii
import quopri
from collections.abc import Iterable, Iterator

from inbox.attachments import AttachmentUnavailable
from inbox.models import Attachment, ProviderRef
from sync.errors import ProviderError
from sync.providers import adapter_for


def fetch_attachment(attachment: Attachment) -> Iterator[bytes]:
    """The attachment's decoded bytes from the provider, in chunks."""
    refs = list(ProviderRef.objects.filter(message_id=attachment.message_id).order_by("-seen_at", "-pk"))
    if not refs:
        raise AttachmentUnavailable("The mailbox no longer has this email: its attachment cannot be fetched.")
    if not attachment.part and not attachment.provider_id:
        raise AttachmentUnavailable(
            "This email was imported before attachments could be opened here: open it in your mail client."
        )
    adapter = adapter_for(attachment.account)
    fetch = getattr(adapter, "fetch_attachment", None)
    if fetch is None:
        raise AttachmentUnavailable("This mailbox cannot give attachments.")
    try:
        yield from fetch(refs[0], attachment)
    except ProviderError as exc:
        raise AttachmentUnavailable(
            f"{attachment.account.get_provider_display()} did not give the file: {exc}"
        ) from exc


def decode_transfer(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """Undo a Content-Transfer-Encoding chunk by chunk (base64 and quoted-printable; the
    rest are the bytes as they are)."""
    encoding = (encoding or "").strip().lower()
    if encoding == "base64":
        rest = b""
        for chunk in chunks:
            data = rest + b"".join(chunk.split())
            cut = len(data) - len(data) % 4
            rest = data[cut:]
            if cut:
                yield _b64(data[:cut])
        if rest.rstrip(b"="):
            yield _b64(rest + b"=" * (-len(rest) % 4))
    elif encoding == "quoted-printable":
        rest = b""
        for chunk in chunks:
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield quopri.decodestring(data[:cut])
        if rest:
            yield quopri.decodestring(rest)
    else:
        yield from chunks


def _b64(data: bytes) -> bytes:
    try:
        return base64.b64decode(data)
    except binascii.Error:
        # A stray character in a long line: decode what is valid, as mail clients do.
        return base64.b64decode(bytes(c for c in data if c in _B64_ALPHABET) + b"==", validate=False)


_B64_ALPHABET = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
