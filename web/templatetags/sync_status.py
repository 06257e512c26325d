"""Status-page parts that come from the sync world. The status page (a settings page) loads
them by template tag, so the settings views never import sync."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.db.models import F

from inbox.models import MailAccount, Provider
from sync.faults import account_faults, account_unplaced
from sync.models import SimulatedFolder, SimulatedMessage

register = template.Library()


def _faults(account: MailAccount) -> dict[str, Any]:
    faults = account_faults(account)
    return {
        "faults": faults,
        "retrying": sum(1 for f in faults if f.state == "retrying"),
        "quarantined": sum(1 for f in faults if f.state == "quarantined"),
    }


@register.inclusion_tag("sync/_faults.html")
def mailbox_faults(account: MailAccount) -> dict[str, Any]:
    """Messages the provider would not return (retrying) or that could not be stored
    (quarantined): listed so nothing is skipped silently."""
    return _faults(account)


@register.inclusion_tag("sync/_sync_health.html")
def sync_health(account: MailAccount) -> dict[str, Any]:
    """Everything the pull could not settle yet: messages not imported (retrying,
    quarantined) and, for IMAP, messages that left their folder and are not placed — with
    the rule that decides when such a message is deleted in the app."""
    imap = account.provider == Provider.IMAP
    unplaced = account_unplaced(account) if imap else []
    return {
        **_faults(account),
        "account": account,
        "imap": imap,
        "unplaced": unplaced,
        "confirm_delay": _duration(settings.IMAP_DELETE_CONFIRM_DELAY_SECONDS),
    }


def _duration(seconds: int) -> str:
    """600 → "10 minutes"; 0 → "" (no delay beyond "a later sync")."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size and (seconds % size == 0 or size == 1):
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return ""


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
