"""``{% plan_limits %}``: the mailbox limits per plan, rendered from the plan policy."""

from __future__ import annotations

from django import template

from accounts import plans

register = template.Library()


@register.simple_tag
def plan_limits() -> str:
    return plans.plan_limits()


@register.simple_tag
def lowest_plan_with_email_sync() -> str:
    return plans.lowest_plan_with("email_sync")
