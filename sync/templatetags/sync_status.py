"""Status-page parts that come from the sync world. The status page (a settings page) loads
them by template tag, so the settings views never import sync."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import F

from inbox.models import MailAccount
from sync.faults import account_faults
from sync.models import SimulatedFolder, SimulatedMessage

register = template.Library()


@register.inclusion_tag("sync/_faults.html")
def mailbox_faults(account: MailAccount) -> dict[str, Any]:
    """Messages the provider would not return (retrying) or that could not be stored
    (quarantined): listed so nothing is skipped silently."""
    faults = account_faults(account)
    return {
        "faults": faults,
        "retrying": sum(1 for f in faults if f.state == "retrying"),
        "quarantined": sum(1 for f in faults if f.state == "quarantined"),
    }


@register.inclusion_tag("sync/_simulated_mailbox.html")
def simulated_mailbox(account: MailAccount, shown: int = 8) -> dict[str, Any]:
    """A demo mailbox's simulated external mailbox: its Inbox, Archive and Trash, the most
    recently moved messages first (where an archive or delete just landed)."""
    folders = []
    for folder in SimulatedFolder:
        rows = SimulatedMessage.objects.filter(account=account, folder=folder)
        folders.append(
            {
                "name": folder.label,
                "slug": folder.label.lower(),
                "count": rows.count(),
                "messages": list(rows.order_by(F("moved_at").desc(nulls_last=True), "-id")[:shown]),
            }
        )
    return {"account": account, "folders": folders, "shown": shown}
