"""Writes that belong to the company itself."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from accounts.models import Company, Plan, User


def set_plan(actor: User, plan: str) -> Company:
    """A company admin changes the company's plan (self-hosted: there is no billing step).

    Going down to a plan without email sync (accounts.plans) stops sync and push for every
    mailbox; the
    synced mail stays readable and mailboxes can still be disconnected."""
    if not actor.is_company_admin or actor.company is None:
        raise PermissionDenied("Only company admins can change the plan.")
    if plan not in Plan.values:
        raise ValueError(f"Unknown plan {plan!r}.")
    company = actor.company
    company.plan = plan
    company.save(update_fields=["plan"])
    return company
