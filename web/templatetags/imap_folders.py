"""The IMAP folder mapping on the mailbox status page: ``{% load imap_folders %}`` then
``{% imap_folder_map account %}``. Which folder plays Sent, Archive and Trash, "guessed"
where only the name said so, and — for whoever may change it — a link to pick others."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.models import User
from inbox.models import MailAccount
from inbox.settings_selectors import can_change
from sync.folder_settings import folder_rows

register = template.Library()


@register.inclusion_tag("sync/_imap_folder_map.html", takes_context=True)
def imap_folder_map(context: template.Context, account: MailAccount) -> dict[str, Any]:
    rows = folder_rows(account)
    request = context.get("request")
    user = getattr(request, "user", None)
    return {
        "account": account,
        "rows": rows,
        "any_guessed": any(row.guessed for row in rows),
        "can_change": isinstance(user, User) and bool(rows) and can_change(user, account),
    }
