"""Mail written in the app, as it leaves: recipients checked, the HTML from the editor
sanitized (nh3) with a plain-text twin, threading headers, and a Message-ID the app makes —
so the copy the Sent folder brings back later is recognised as this very message.

Nothing here talks to a provider; ``inbox.services.compose`` stores the result in the outbox.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid
from html.parser import HTMLParser

import nh3
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from inbox.errors import InvalidRequest

# Gmail and Exchange Online both refuse more than 500 recipients on one message: say so
# before anything is queued rather than have the provider refuse it later.
MAX_RECIPIENTS = 500
MAX_SUBJECT = 998
_LINE_BREAK = re.compile(r"[\r\n\x00]")
_RE_PREFIX = re.compile(r"^\s*re\s*:", re.IGNORECASE)
_FWD_PREFIX = re.compile(r"^\s*(fwd?|fw)\s*:", re.IGNORECASE)

# What the compose editor can produce: bold, italic, links, lists, quotes, line breaks.
COMPOSE_TAGS = {"p", "br", "div", "b", "strong", "i", "em", "u", "a", "ul", "ol", "li", "blockquote", "span"}
COMPOSE_ATTRIBUTES = {"a": {"href"}}


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""

    def header(self) -> str:
        return str(HeaderAddress(display_name=self.name, addr_spec=self.email))

    def as_json(self) -> dict[str, str]:
        return {"email": self.email, "name": self.name}


def parse_recipients(value: str | list[str], *, field: str = "To") -> list[Recipient]:
    """ "Ann <ann@x.test>, bob@y.test" (or a list of such) → recipients; a line break
    anywhere (header injection), or anything that is not an address, is refused by name."""
    parts = [value] if isinstance(value, str) else list(value)
    for part in parts:
        if _LINE_BREAK.search(part):
            raise InvalidRequest(f"{field}: addresses cannot contain line breaks.")
    found: list[Recipient] = []
    seen: set[str] = set()
    for raw in _split(parts):
        name, address = getaddresses([raw])[0] if raw.strip() else ("", "")
        address = address.strip()
        try:
            if not address or "@" not in address:
                raise ValidationError("no address")
            validate_email(address)
        except ValidationError:
            raise InvalidRequest(f"{field}: “{raw.strip()[:80]}” is not an e-mail address.") from None
        if address.lower() not in seen:
            seen.add(address.lower())
            found.append(Recipient(address, name.strip()[:300]))
    return found


def _split(parts: list[str]) -> list[str]:
    """Split on commas and semicolons outside quotes and angle brackets."""
    pieces: list[str] = []
    for part in parts:
        current, quoted, angled = "", False, False
        for char in part:
            if char == '"':
                quoted = not quoted
            elif char == "<" and not quoted:
                angled = True
            elif char == ">" and not quoted:
                angled = False
            if char in ",;" and not quoted and not angled:
                pieces.append(current)
                current = ""
                continue
            current += char
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def check_subject(subject: str) -> str:
    if _LINE_BREAK.search(subject or ""):
        raise InvalidRequest("Subject: it cannot contain line breaks.")
    return (subject or "").strip()[:MAX_SUBJECT]


def reply_subject(subject: str) -> str:
    subject = (subject or "").strip()
    return subject if _RE_PREFIX.match(subject) else f"Re: {subject}".strip()


def forward_subject(subject: str) -> str:
    subject = (subject or "").strip()
    return subject if _FWD_PREFIX.match(subject) else f"Fwd: {subject}".strip()


def sanitize_compose_html(html: str) -> str:
    return nh3.clean(
        html or "",
        tags=COMPOSE_TAGS,
        attributes=COMPOSE_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    ).strip()


class _PlainText(HTMLParser):
    """The text/plain twin of the editor's HTML: quotes as "> ", lists as "- ", links as
    "text <url>" — what a plain-text mail client shows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quote = 0
        self.href: list[str | None] = []
        self.ordered: list[int] = []

    def _newline(self) -> None:
        if self.lines[-1].strip("> "):
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"p", "div", "ul", "ol"}:
            self._newline()
        elif tag == "br":
            self.lines.append("")
        elif tag == "blockquote":
            self._newline()
            self.quote += 1
        elif tag == "li":
            self._newline()
            if self.ordered and self.ordered[-1] >= 0:
                self.ordered[-1] += 1
                self.lines[-1] += f"{self.ordered[-1]}. "
            else:
                self.lines[-1] += "- "
        if tag == "ol":
            self.ordered.append(0)
        elif tag == "ul":
            self.ordered.append(-1)
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote":
            self.quote = max(self.quote - 1, 0)
            self._newline()
        elif tag in {"ul", "ol"} and self.ordered:
            self.ordered.pop()
        elif tag == "a" and self.href:
            href = self.href.pop()
            if href and not self.lines[-1].endswith(href):
                self.lines[-1] += f" <{href}>"
        elif tag in {"p", "div"}:
            self._newline()

    def handle_data(self, data: str) -> None:
        if not self.lines[-1] and self.quote:
            self.lines[-1] = "> " * self.quote
        self.lines[-1] += data.replace("\n", " ")


def plain_text(html: str) -> str:
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    text = "\n".join(line.rstrip() for line in parser.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


@dataclass(frozen=True)
class OutgoingFile:
    """A file that leaves as a MIME part of the message (name already made safe)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class BuiltMessage:
    raw: bytes
    message_id: str
    text: str
    html: str


def new_message_id(address: str) -> str:
    domain = address.rsplit("@", 1)[-1] if "@" in address else "sales-inbox.invalid"
    return make_msgid(idstring="si", domain=domain)


def build_message(
    *,
    sender: Recipient,
    to: list[Recipient],
    cc: list[Recipient],
    subject: str,
    html: str,
    in_reply_to: str = "",
    references: list[str] | None = None,
    message_id: str | None = None,
    files: Sequence[OutgoingFile] = (),
) -> BuiltMessage:
    """multipart/alternative (text/plain + sanitized text/html) with CRLF line ends, inside a
    multipart/mixed with the files when there are any. Bcc is never a header: it exists only
    in the envelope."""
    clean_html = sanitize_compose_html(html)
    text = plain_text(clean_html)
    message_id = message_id or new_message_id(sender.email)
    message = EmailMessage(policy=SMTP)
    message["From"] = sender.header()
    if to:
        message["To"] = ", ".join(r.header() for r in to)
    if cc:
        message["Cc"] = ", ".join(r.header() for r in cc)
    message["Subject"] = check_subject(subject)
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    message["MIME-Version"] = "1.0"
    message.set_content(text)
    document = f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{clean_html}</body></html>'
    message.add_alternative(document, subtype="html")
    for item in files:
        maintype, _, subtype = item.content_type.partition("/")
        if maintype in ("multipart", "message"):
            # Not a container we build: it leaves as the bytes it is.
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(
            item.data, maintype=maintype or "application", subtype=subtype or "octet-stream",
            filename=item.filename,
        )  # fmt: skip
    return BuiltMessage(message.as_bytes(), message_id, text, clean_html)
