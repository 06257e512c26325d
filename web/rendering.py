"""Email HTML made safe to show, and small presentation helpers for the inbox pages.

An email body is sanitized with nh3 (allow-lists of tags, attributes, URL schemes and
CSS properties) and wrapped in a complete document that the browser shows in an
``<iframe sandbox srcdoc=…>``: no scripts, no same-origin, a Content-Security-Policy of
``default-src 'none'``. Remote images are removed unless the user asked for them on that
message, so opening an email tells no tracker that it was read.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from html import escape
from typing import Any

import nh3
from django.template import Context, engines
from django.utils import timezone, translation
from django.utils.dates import MONTHS_3, WEEKDAYS_ABBR
from django.utils.safestring import SafeString
from django.utils.text import Truncator, add_truncation_text, calculate_truncate_chars_length

_ALLOWED_TAGS = (set(nh3.ALLOWED_TAGS) - {"area", "map", "details", "summary"}) | {
    "span",
    "div",
    "font",
    "center",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "td",
    "th",
    "img",
    "hr",
    "br",
    "p",
    "u",
    "s",
}
_CELL = {"colspan", "rowspan", "align", "valign", "width", "height", "bgcolor", "style"}
_ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items() if tag not in {"area", "map"}},
    "*": {"style", "dir", "lang", "title"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height", "align"},
    "td": _CELL,
    "th": _CELL | {"scope"},
    "table": {"width", "cellpadding", "cellspacing", "border", "align", "bgcolor", "role"},
    "font": {"color", "size", "face"},
    "p": {"align"},
    "div": {"align"},
}
# Layout and typography only: nothing that can name a URL (background, list-style-image,
# border-image, content, cursor…) and nothing that can escape the frame's box.
_STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "line-height",
    "letter-spacing",
    "text-align",
    "text-decoration",
    "text-transform",
    "vertical-align",
    "white-space",
    "margin",
    "margin-top",
    "margin-right",
    "margin-bottom",
    "margin-left",
    "padding",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "border",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-color",
    "border-style",
    "border-width",
    "border-radius",
    "border-collapse",
    "border-spacing",
    "width",
    "max-width",
    "min-width",
    "height",
    "max-height",
    "min-height",
    "display",
    "table-layout",
}
_DANGEROUS_CSS = re.compile(r"url\s*\(|expression\s*\(|image-set\s*\(|@import|\\", re.IGNORECASE)
_REMOTE = re.compile(r"^\s*https?://", re.IGNORECASE)
_CID = re.compile(r"^\s*cid:", re.IGNORECASE)

_FRAME_STYLE = (
    "html{color-scheme:light}"
    "body{margin:0;padding:2px;font:14px/1.55 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:#1d2430;overflow-wrap:anywhere}"
    "img{max-width:100%;height:auto}table{max-width:100%}"
    # A held-back remote image keeps its place as a quiet box with its alt text.
    "img:not([src]){display:inline-block;background:#f2f4f7;outline:1px dashed #d0d5dd;"
    "color:#98a2b3;font-size:12px;min-width:24px;min-height:18px;vertical-align:middle;"
    # Not a picture, so max-width:100% cannot shrink it inside a table cell: a held-back
    # 520 px image would widen the mail past a phone's frame and cut its text off.
    "max-width:calc(100vw - 8px);box-sizing:border-box}"
    "a{color:#2456d6}"
    "blockquote{margin:0 0 0 .6em;padding-left:.8em;border-left:3px solid #d0d5dd;color:#475467}"
    "pre{white-space:pre-wrap}"
)


@dataclass(frozen=True)
class SafeEmail:
    """A sanitized body, ready for ``srcdoc``, and what was held back."""

    document: str
    blocked_images: int
    height: int


def _style_filter(value: str) -> str | None:
    declarations = [d for d in value.split(";") if d.strip() and not _DANGEROUS_CSS.search(d)]
    return ";".join(declarations) or None


def safe_email_html(html: str) -> str:
    """The sanitized fragment with remote images removed (kept for existing callers)."""
    return _clean(html, allow_images=False)[0]


def _clean(html: str, *, allow_images: bool, inline_images: dict[str, str] | None = None) -> tuple[str, int]:
    blocked = 0
    inline_images = inline_images or {}

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        nonlocal blocked
        if attr == "style":
            return _style_filter(value)
        if _CID.match(value):
            # An inline part of this message: its signed same-origin URL, never a remote one.
            if tag == "img" and attr == "src":
                return inline_images.get(urllib.parse.unquote(_CID.sub("", value)).strip().strip("<>"))
            return None
        if tag == "img" and attr == "src":
            if not _REMOTE.match(value):
                return None  # data: and others are refused
            if not allow_images:
                blocked += 1
                return None
        return value

    cleaned = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        clean_content_tags={"script", "style", "title", "head", "noscript", "template", "xmp", "iframe"},
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes={"http", "https", "mailto", "tel", "cid"},
        url_relative="deny",
        link_rel="noopener noreferrer",
        filter_style_properties=_STYLE_PROPERTIES,
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
    return cleaned, blocked


def _estimate_height(cleaned: str) -> int:
    """A first height for the frame; the sandbox (no same-origin) hides the real one.

    Counted from visible text and block breaks; the frame scrolls and can be resized
    by the reader when the guess is short.
    """
    text = re.sub(r"<[^>]+>", " ", cleaned)
    lines = len(text) / 95 + 1.2 * len(re.findall(r"<(?:br|p|div|tr|li|h\d|hr|blockquote)\b", cleaned))
    images = 0
    for height in re.findall(r"<img[^>]*\bheight=\"(\d+)\"", cleaned):
        images += min(int(height), 600)
    images += 160 * len(re.findall(r"<img(?![^>]*\bheight=)[^>]*\bsrc=", cleaned))
    return int(max(80, min(1600, lines * 22 + images + 24)))


def email_document(
    html: str,
    *,
    allow_images: bool = False,
    inline_images: dict[str, str] | None = None,
    inline_source: str = "",
) -> SafeEmail:
    """A whole document for ``<iframe sandbox srcdoc>``, with its own CSP.

    ``inline_images`` maps Content-IDs of the message's inline parts to their signed URLs;
    ``inline_source`` is the one absolute URL prefix they share, the only place besides
    ``data:`` the frame may load images from while remote images stay blocked (inline
    images are part of the mail, not trackers: no "Show images" needed)."""
    cleaned, blocked = _clean(html, allow_images=allow_images, inline_images=inline_images)
    img_src = "data: https: http:" if allow_images else "data:"
    if inline_source and not allow_images:
        img_src += " " + inline_source
    csp = f"default-src 'none'; style-src 'unsafe-inline'; img-src {img_src}; form-action 'none'"
    document = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">'
        '<meta name="referrer" content="no-referrer"><base target="_blank">'
        f"<style>{_FRAME_STYLE}</style></head><body>{cleaned}</body></html>"
    )
    return SafeEmail(document=document, blocked_images=blocked, height=_estimate_height(cleaned))


# -- small presentation helpers (pure functions over loaded rows: no queries) -----------

_HUES = (214, 262, 330, 12, 32, 150, 178, 196, 282, 350)


def initials(name: str) -> str:
    words = [w for w in re.split(r"[\s._@-]+", name) if w and w[0].isalnum()]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[1][0]).upper()


def avatar_hue(key: str) -> int:
    """A stable colour per person, so the same sender looks the same everywhere."""
    return _HUES[sum(key.lower().encode()) % len(_HUES)]


def short_time(when: datetime, now: datetime | None = None) -> str:
    """Today: "14:05"; this year: "Mar 3"; earlier: "Mar 3, 2023" — as mail clients show it."""
    return _short_local(timezone.localtime(when), timezone.localtime(now or timezone.now()))


def _short_local(local: datetime, now: datetime) -> str:
    if local.date() == now.date():
        return local.strftime("%H:%M")
    if local.year == now.year:
        return f"{local.strftime('%b')} {local.day}"
    return f"{local.strftime('%b')} {local.day}, {local.year}"


@lru_cache(maxsize=32)
def _date_names(language: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The day and month abbreviations ``date:'D'`` and ``date:'M'`` show in ``language``
    (translated once per language, not twice per row: each is a lazy translation)."""
    with translation.override(language):
        days = tuple(str(WEEKDAYS_ABBR[d]) for d in range(7))
        months = ("", *(str(MONTHS_3[m]).title() for m in range(1, 13)))
    return days, months


def long_time(local: datetime, names: tuple[tuple[str, ...], tuple[str, ...]] | None = None) -> str:
    """What ``{{ when|date:'D, M j, Y H:i' }}`` shows ("Tue, Mar 3, 2026 14:05"), built from
    the same translated day and month names without parsing the format for every row
    (``names``: ``_date_names`` of the active language, when the caller has them)."""
    days, months = names or _date_names(translation.get_language())
    return (
        f"{days[local.weekday()]}, {months[local.month]} {local.day}, "
        f"{local.year:04d} {local.hour:02d}:{local.minute:02d}"
    )


SNIPPET_CHARS = 160


def truncate_snippet(text: str, length: int = SNIPPET_CHARS) -> str:
    """What ``{{ text|truncatechars:length }}`` shows. Django's Truncator looks at every
    character for combining marks; ASCII text has none, so it is cut by slicing."""
    if text.isascii():
        if len(text) <= length:
            return text
        return add_truncation_text(text[: calculate_truncate_chars_length(length, None)])
    return Truncator(text).chars(length)


def _display_name(name: str, address: str) -> str:
    return name.strip() or address


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """Everything a list row shows (``templates/inbox/_row.html`` reads nothing else), as
    strings, numbers and flags computed once per page from loaded rows."""

    id: int
    url: str
    unread: bool
    subject: str
    people: str
    initials: str
    hue: int
    messages: str  # the number of messages when more than one, else ""
    snippet: str
    has_attachments: bool
    archived: bool
    archived_badge: bool  # "Archived" next to a row listed outside the Archive (search)
    team_address: str  # the team mailbox's address, "" for a personal one
    record_kind: str  # "deal", "lead" or ""
    record_label: str  # "Deal", "Lead" or ""
    record_url: str
    record_title: str
    time_iso: str
    time_title: str
    time_short: str


def decorate_rows(conversations: list[Any], folder: str, account_id: int | None = None) -> None:
    """Attach what a list row shows (``conversation.row``, a ConversationRow) to loaded
    conversations.

    Works on prefetched participants only (``listed_participants`` of ``folder_page``, else
    a prefetched ``participants``), so it adds no query per row; the links are one
    ``reverse`` per page each (conversation, deal, lead), not one per row, and the dates are
    formatted here, not by two ``date`` filters per row.
    """
    from django.urls import reverse

    now = timezone.localtime(timezone.now())
    zone = timezone.get_current_timezone()
    link = _url_prefix(reverse("inbox:conversation", args=[0]))
    record_links = {
        "deal": _url_prefix(reverse("crm:deal", args=[0])),
        "lead": _url_prefix(reverse("crm:lead", args=[0])),
    }
    query = f"/?folder={folder}" + (f"&account={account_id}" if account_id else "")
    names = _date_names(translation.get_language())
    for conversation in conversations:
        account = conversation.account
        own = account.address.lower()
        listed = getattr(conversation, "listed_participants", None)  # folder_page's
        if listed is None:
            listed = conversation.participants.all()  # prefetched (search, list updates)
        others = [p for p in listed if p.address.lower() != own]
        if not others:
            label = "me"
            key = own
        elif len(others) == 1:
            label = _display_name(others[0].name, others[0].address)
            key = others[0].address
        else:
            firsts = [_display_name(p.name, p.address).split(" ")[0] for p in others[:3]]
            label = ", ".join(firsts) + (f" +{len(others) - 3}" if len(others) > 3 else "")
            key = others[0].address
        first = others[0] if others else None
        record, record_kind = (
            (conversation.deal, "deal") if conversation.deal_id else (conversation.lead, "lead")
        )
        if record is None:
            record_kind = ""
        local = conversation.last_message_at.astimezone(zone)
        archived = conversation.is_archived
        conversation.row = ConversationRow(
            id=conversation.pk,
            url=f"{link}{conversation.pk}{query}",
            unread=not conversation.is_read,
            subject=conversation.subject or "(no subject)",
            people=f"To: {label}" if folder == "sent" else label,
            initials=initials(_display_name(first.name, first.address) if first else "me"),
            hue=avatar_hue(key),
            messages=str(conversation.message_count) if conversation.message_count > 1 else "",
            snippet=truncate_snippet(conversation.snippet),
            has_attachments=conversation.has_attachments,
            archived=archived,
            archived_badge=archived and folder != "archive",
            team_address=account.address if account.is_team else "",
            record_kind=record_kind,
            record_label=record_kind.capitalize(),
            record_url=f"{record_links[record_kind]}{record.pk}/" if record is not None else "",
            record_title=record.title if record is not None else "",
            time_iso=local.isoformat(),
            time_title=long_time(local, names),
            time_short=_short_local(local, now),
        )


def _url_prefix(url_of_zero: str) -> str:
    """``/inbox/c/0/`` → ``/inbox/c/``: a URL reversed once per page, the id added per row."""
    if not url_of_zero.endswith("/0/"):
        raise ValueError(f"Expected a URL ending in /0/, got {url_of_zero!r}")
    return url_of_zero.removesuffix("0/")


# -- list rows, rendered once per distinct row ----------------------------------------------

ROW_TEMPLATE = "inbox/_row.html"
ROW_CACHE_SIZE = 2048  # rows kept per process (~1.5 KB of HTML each)


def row_template() -> Any:
    """The compiled row template (the cached loader's; a new one after a dev-server reload)."""
    return engines["django"].engine.get_template(ROW_TEMPLATE)  # type: ignore[attr-defined]


def row_html(
    row: ConversationRow,
    *,
    checked: bool = False,
    oob: bool = False,
    template: Any = None,
    language: str | None = None,
) -> SafeString:
    """One list row's HTML (``{% conversation_row %}``), kept per process by its whole input.

    The row template reads only ``r`` (the ConversationRow: every string, number and flag the
    row shows, already in the user's time zone), ``checked`` and ``oob``, and it is rendered
    with nothing else in its context. So two equal inputs give the same HTML, and a change to
    anything the row shows (read, archived, subject, people, deal title, time label, …) is a
    different key: no invalidation to forget. The key also holds the compiled template (a
    template edited under the dev server's reloader is a new one) and the active language
    (``language``: the caller's, looked up once per page).
    """
    return _rendered_row(
        template or row_template(), row, checked, oob, language or translation.get_language()
    )


@lru_cache(maxsize=ROW_CACHE_SIZE)
def _rendered_row(
    template: Any, row: ConversationRow, checked: bool, oob: bool, language: str | None
) -> SafeString:
    return SafeString(template.render(Context({"r": row, "checked": checked, "oob": oob})))


def forget_rendered_rows() -> None:
    """Empty this process's rendered rows (the benchmark's "never seen" case; tests)."""
    _rendered_row.cache_clear()
