"""Messages with attachments for the provider tests, and how to download them as a user.

``export_message`` is what a rep gets every day: a PDF, a picture, and an inline (``cid:``)
logo in the HTML. ``hostile_message`` carries the names and types that try to escape.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from django.test import Client

INLINE_CID = "logo@acme.test"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (Chromium draws it; a hash tells it apart)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def pdf(size: int = 1_500_000) -> bytes:
    """A PDF-looking file of ``size`` bytes of incompressible content: above the IMAP
    adapter's 1 MB partial-fetch chunk, so the download is read in several pieces."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    seed = b"sales-inbox"
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:size]) + b"\n%%EOF\n"


PDF = pdf()
CHART = png(64, 48, (200, 30, 30))
LOGO = png(120, 60, (20, 160, 60))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_message(*, to: str, sender: str = "dana@client.test", subject: str = "The full export") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Dana Client <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    msg["Message-ID"] = make_msgid(domain="client.test")
    msg.set_content("The full export is attached.")
    msg.add_alternative(
        f'<p>The full export is attached.</p><p><img src="cid:{INLINE_CID}" alt="Client logo" '
        'width="120" height="60" id="logo"></p>',
        subtype="html",
    )
    msg.get_payload()[1].add_related(
        LOGO, "image", "png", cid=f"<{INLINE_CID}>", filename="logo.png", disposition="inline"
    )
    msg.add_attachment(PDF, "application", "pdf", filename="export.pdf")
    msg.add_attachment(CHART, "image", "png", filename="chart.png")
    return msg.as_bytes()


EXPECTED = {"export.pdf": sha(PDF), "chart.png": sha(CHART), "logo.png": sha(LOGO)}

HTML_PAYLOAD = (
    b"<html><body><script>document.title='pwned-html';"
    b"parent.document.title='pwned-html'</script></body></html>"
)
SVG_PAYLOAD = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="document.title=\'pwned-svg\'">'
    b"<script>document.title='pwned-svg'</script></svg>"
)
LONG_NAME = "q" * 296 + ".pdf"  # 300 characters


def hostile_message(*, to: str, sender: str = "mallory@evil.test") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Invoice attached"
    msg["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    msg["Message-ID"] = make_msgid(domain="evil.test")
    msg.set_content("See the attachments.")
    msg.add_attachment(b"root:x:0:0:root:/root:/bin/sh\n", "text", "plain", filename="../../etc/passwd")
    # U+202E turns "invoice\u202Efdp.exe" into "invoiceexe.pdf" on screen; sent RFC 2231-encoded.
    msg.add_attachment(b"MZ not really", "application", "octet-stream", filename="invoice\u202efdp.exe")
    msg.add_attachment(b"%PDF-1.4 long name\n", "application", "pdf", filename=LONG_NAME)
    msg.add_attachment(HTML_PAYLOAD, "text", "html", filename="statement.html")
    msg.add_attachment(SVG_PAYLOAD, "image", "svg+xml", filename="logo.svg")
    return msg.as_bytes()


def download(client: Client, url: str) -> tuple[int, bytes, dict[str, str]]:
    response = client.get(url)
    streaming = getattr(response, "streaming", False)
    body = b"".join(response.streaming_content) if streaming else response.content  # type: ignore[attr-defined]
    return response.status_code, body, {k.lower(): v for k, v in response.items()}


def kept_files(root: Path) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()]


def attachment_urls(message_pk: int) -> dict[str, str]:
    from django.urls import reverse

    from inbox.models import Attachment

    return {
        a.filename: reverse("inbox:attachment", args=[a.pk])
        for a in Attachment.objects.filter(message_id=message_pk)
    }


def assert_downloads_match(client: Client, message_pk: int) -> None:
    """Each of the export's three files downloads byte for byte as it was sent."""
    urls = attachment_urls(message_pk)
    assert set(urls) == set(EXPECTED)
    for name, digest in EXPECTED.items():
        status, body, headers = download(client, urls[name])
        assert status == 200, (name, body[:300])
        assert sha(body) == digest, name
        assert headers["x-content-type-options"] == "nosniff"


def conversation_path(message_pk: int) -> str:
    from django.urls import reverse

    from inbox.models import Message

    return reverse("inbox:conversation", args=[Message.objects.get(pk=message_pk).conversation_id])


def assert_inline_logo_shown(page, screenshot: str) -> None:  # type: ignore[no-untyped-def]
    """The cid: logo is drawn inside the sandboxed mail frame (its real pixels loaded, no
    "Show images" needed); a screenshot goes to SCREENSHOTS_DIR when that is set."""
    import os

    from playwright.sync_api import expect

    logo = page.frame_locator("iframe.mailframe").first.locator('img[alt="Client logo"]')
    expect(logo).to_have_js_property("naturalWidth", 120)
    expect(logo).to_be_visible()
    assert page.locator(".imgbar").count() == 0  # no "remote images hidden" bar for inline parts
    if os.environ.get("SCREENSHOTS_DIR"):
        page.screenshot(path=str(Path(os.environ["SCREENSHOTS_DIR"]) / screenshot))


# -- a message above the body cap (sync.store.MAX_FETCH_BYTES) --------------------------------

BIG_NAME = "Offert Ångström – skannad.pdf"  # sent RFC 2231-encoded (filename*)
SCAN_NAME = "Überweisung.png"  # sent RFC 2047-encoded in Content-Type's name, no filename
BIG_TEXT = "The signed contract and the full scans are attached."


def big_file(size: int) -> bytes:
    """``size`` bytes that do not compress (a scanned PDF's worth), the same every run."""
    import random

    return b"%PDF-1.4\n" + random.Random(size).randbytes(size - 9)


def too_large_message(*, to: str, file_size: int = 28 * 1024 * 1024) -> tuple[bytes, dict[str, str]]:
    """(raw message, {file name: SHA-256 of its bytes}): text and HTML with an inline ``cid:``
    logo, a ``file_size`` PDF with an RFC 2231 name, and a picture named only by an RFC 2047
    Content-Type ``name``. With the default 28 MB file it is about 38 MB — above the 25 MB
    body cap every provider shares."""
    import email.header

    big = big_file(file_size)
    msg = EmailMessage()
    msg["From"] = "Dana Client <dana@client.test>"
    msg["To"] = to
    msg["Subject"] = "Signed contract and scans"
    msg["Date"] = "Wed, 02 Dec 2026 09:00:00 +0000"
    msg["Message-ID"] = make_msgid(domain="client.test")
    msg.set_content(BIG_TEXT)
    msg.add_alternative(
        f'<p>{BIG_TEXT}</p><p><img src="cid:{INLINE_CID}" alt="Client logo" width="120" height="60"></p>',
        subtype="html",
    )
    msg.get_payload()[1].add_related(
        LOGO, "image", "png", cid=f"<{INLINE_CID}>", filename="logo.png", disposition="inline"
    )
    msg.add_attachment(big, "application", "pdf", filename=BIG_NAME)
    msg.add_attachment(CHART, "image", "png", filename="x.png")
    scan = msg.get_payload()[-1]
    del scan["Content-Disposition"]
    scan["Content-Disposition"] = "attachment"
    encoded = email.header.Header(SCAN_NAME, "utf-8").encode()
    del scan["Content-Type"]
    scan["Content-Type"] = f'image/png; name="{encoded}"'
    raw = msg.as_bytes()
    del msg
    return raw, {BIG_NAME: sha(big), SCAN_NAME: sha(CHART), "logo.png": sha(LOGO)}
