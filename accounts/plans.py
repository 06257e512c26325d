"""The plan policy: what each plan allows. The one place where plan names meet features.

Everything that asks "may this company sync mail / connect one more mailbox / share a team
mailbox?" asks this module; views use ``accounts.decorators.require_email_sync``, templates
render the limits with ``{% plan_limits %}``, the sync's query uses ``plans_with_email_sync``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from django.db import models

if TYPE_CHECKING:
    from accounts.models import Company, User


class Plan(models.TextChoices):
    """Cheapest first. Company.plan stores the value."""

    LITE = "lite", "Lite"
    GROWTH = "growth", "Growth"
    PREMIUM = "premium", "Premium"
    ULTIMATE = "ultimate", "Ultimate"


class PlanPolicy(NamedTuple):
    email_sync: bool
    mailboxes: int  # connected mailboxes a user may have: their personal ones + team ones
    team_mailboxes: bool


# In the order of the plans, cheapest first.
POLICY: dict[Plan, PlanPolicy] = {
    Plan.LITE: PlanPolicy(email_sync=False, mailboxes=0, team_mailboxes=False),
    Plan.GROWTH: PlanPolicy(email_sync=True, mailboxes=1, team_mailboxes=False),
    Plan.PREMIUM: PlanPolicy(email_sync=True, mailboxes=3, team_mailboxes=True),
    Plan.ULTIMATE: PlanPolicy(email_sync=True, mailboxes=5, team_mailboxes=True),
}
PLAN_ORDER: list[Plan] = list(POLICY)


def policy(plan: str) -> PlanPolicy:
    return POLICY[Plan(plan)]


def has_email_sync(company: Company | None) -> bool:
    """Email sync (connecting, pulling, pushing) exists only on plans whose policy has it."""
    return company is not None and policy(company.plan).email_sync


def email_sync_available(user: User) -> bool:
    """Whether the user's company may use email sync at all."""
    return has_email_sync(user.company)


def plans_with_email_sync() -> list[str]:
    """Plan values for a database filter (the sync's due query)."""
    return [plan.value for plan, rule in POLICY.items() if rule.email_sync]


def lowest_plan_with(feature: str) -> str:
    """The cheapest plan's name that has ``feature`` (a PlanPolicy field)."""
    return str(next(plan for plan, rule in POLICY.items() if getattr(rule, feature)).label)


def upgrade_notice() -> str:
    return (
        f"Email sync is available on the {lowest_plan_with('email_sync')} plan and higher. "
        "Upgrade to connect a mailbox."
    )


def no_sync_reason(company: Company | None) -> str:
    """Why nothing is synced or pushed for this company (shown on refused or failed work)."""
    name = company.get_plan_display() if company is not None else "no"
    return f"Email sync is not available on the {name} plan; {upgrade_notice()}"


def refused_line(company: Company | None) -> str:
    """A command's refusal on a plan without email sync."""
    name = company.name if company is not None else "this user"
    plan = company.get_plan_display() if company is not None else "no"
    return f"{name} is on the {plan} plan. {upgrade_notice()}"


def plan_limits() -> str:
    """The limits in words, rendered by templates (``{% plan_limits %}``)."""
    parts = []
    for plan, rule in POLICY.items():
        if not rule.email_sync:
            continue
        if not rule.team_mailboxes:
            parts.append(f"{plan.label} {rule.mailboxes} (personal)")
        elif not POLICY[PLAN_ORDER[PLAN_ORDER.index(plan) - 1]].team_mailboxes:
            parts.append(f"{plan.label} {rule.mailboxes} (team mailboxes included)")
        else:
            parts.append(f"{plan.label} {rule.mailboxes}")
    return ", ".join(parts)


def connect_refusal(company: Company | None, *, who: str, team: bool, connected: int) -> str:
    """Why the plan refuses one more connected mailbox ("" when it allows it).

    ``connected`` counts the mailboxes the user already has (personal + team ones they
    belong to). Reconnecting an existing mailbox is not a new one: callers skip this.
    """
    if not has_email_sync(company):
        return upgrade_notice()
    assert company is not None
    rule = policy(company.plan)
    if team and not rule.team_mailboxes:
        lowest = lowest_plan_with("team_mailboxes")
        return f"Shared team mailboxes are available on the {lowest} plan and higher."
    if connected >= rule.mailboxes:
        noun = "mailbox" if rule.mailboxes == 1 else "mailboxes"
        plan = company.get_plan_display()
        return f"{who} already has {rule.mailboxes} connected {noun}, the most the {plan} plan allows."
    return ""
