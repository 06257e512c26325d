"""``{% load list_rows %}`` — ``{% conversation_row c.row %}``: one row of a conversation list
(``{% conversation_rows page.conversations %}``: all of them),
from its ConversationRow (web/rendering.py ``row_html``: rendered once per distinct row and
kept per process). ``checked`` in the context (a set of ids) ticks the row's checkbox."""

from typing import Any

from django import template
from django.utils import translation
from django.utils.safestring import SafeString

from web.rendering import ROW_TEMPLATE, ConversationRow, row_html, row_template

register = template.Library()


def _template_and_language(context: Any) -> tuple[Any, str | None]:
    # The row template and the active language are looked up once per page, not per row.
    found = context.render_context.get(ROW_TEMPLATE)
    if found is None:
        found = context.render_context[ROW_TEMPLATE] = (row_template(), translation.get_language())
    return found  # type: ignore[no-any-return]


@register.simple_tag(takes_context=True)
def conversation_row(context: Any, row: ConversationRow, oob: bool = False) -> SafeString:
    checked = row.id in (context.get("checked") or ())
    template, language = _template_and_language(context)
    return row_html(row, checked=checked, oob=oob, template=template, language=language)


@register.simple_tag(takes_context=True)
def conversation_rows(context: Any, conversations: list[Any]) -> SafeString:
    """``{% for c in conversations %}{% conversation_row c.row %}{% endfor %}`` in one tag:
    the same HTML without a template loop step and a tag call per row."""
    checked = context.get("checked") or ()
    template, language = _template_and_language(context)
    return SafeString(
        "".join(
            row_html(c.row, checked=c.row.id in checked, template=template, language=language)
            for c in conversations
        )
    )
