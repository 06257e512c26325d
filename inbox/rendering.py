"""Email HTML made safe to show: sanitized with nh3, remote content dropped."""

from __future__ import annotations

import nh3

_ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) | {
    "span",
    "div",
    "font",
    "center",
    "table",
    "tbody",
    "thead",
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
_ALLOWED_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "img": {"alt", "width", "height"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign"},
    "table": {"width", "cellpadding", "cellspacing", "border"},
    "font": {"color", "size"},
}


def safe_email_html(html: str) -> str:
    """Scripts, event handlers, forms and remote images go; links open outside the app."""
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
