"""``{% load settings_nav %}`` — what the settings navigation lists, for every settings page
(each view used to pass it, and the pages that forgot showed no team mailbox there)."""

from django import template

from accounts.models import User
from inbox.models import MailAccount
from inbox.settings_selectors import team_mailboxes

register = template.Library()


@register.simple_tag
def nav_team_accounts(user: User) -> list[MailAccount]:
    """The team mailboxes whose Account page the user may open."""
    return team_mailboxes(user) if user.is_authenticated else []
