"""Status-page parts that come from the sync world. The status page (a settings page) loads
them by template tag, so the settings views never import sync."""

from __future__ import annotations

from typing import Any

from django import template

from inbox.models import MailAccount
from sync.faults import account_faults

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
