"""The plan policy (accounts/plans.py): one table, one function per rule, one view decorator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from accounts import plans
from accounts.models import Company, Plan, User

ROOT = Path(__file__).resolve().parent.parent


def test_policy_gives_email_sync_from_growth_and_team_mailboxes_from_premium():
    assert [plans.policy(p).email_sync for p in plans.PLAN_ORDER] == [False, True, True, True]
    assert [plans.policy(p).mailboxes for p in plans.PLAN_ORDER] == [0, 1, 3, 5]
    assert [plans.policy(p).team_mailboxes for p in plans.PLAN_ORDER] == [False, False, True, True]


def test_has_email_sync_follows_the_policy(acme: Company):
    acme.plan = Plan.LITE
    assert not plans.has_email_sync(acme) and not acme.has_email_sync
    acme.plan = Plan.GROWTH
    assert plans.has_email_sync(acme) and acme.has_email_sync
    assert not plans.has_email_sync(None)


def test_plans_with_email_sync_are_the_ones_the_policy_names():
    assert plans.plans_with_email_sync() == ["growth", "premium", "ultimate"]


def test_plan_limits_read_from_the_table(monkeypatch: pytest.MonkeyPatch):
    assert plans.plan_limits() == "Growth 1 (personal), Premium 3 (team mailboxes included), Ultimate 5"
    # Change the table and the sentence follows: nothing else spells the limits.
    monkeypatch.setitem(plans.POLICY, Plan.ULTIMATE, plans.PlanPolicy(True, 9, True))
    assert plans.plan_limits().endswith("Ultimate 9")


@pytest.mark.parametrize(
    ("plan", "team", "connected", "refused"),
    [
        (Plan.LITE, False, 0, "Email sync is available on the Growth plan and higher"),
        (Plan.GROWTH, False, 0, ""),
        (Plan.GROWTH, False, 1, "alice@acme.test already has 1 connected mailbox, the most the Growth plan"),
        (Plan.GROWTH, True, 0, "Shared team mailboxes are available on the Premium plan and higher."),
        (Plan.PREMIUM, True, 2, ""),
        (Plan.PREMIUM, False, 3, "already has 3 connected mailboxes, the most the Premium plan allows."),
        (Plan.ULTIMATE, True, 4, ""),
        (Plan.ULTIMATE, False, 5, "the most the Ultimate plan allows."),
    ],
)
def test_connect_refusal(acme: Company, plan: str, team: bool, connected: int, refused: str):
    acme.plan = plan
    answer = plans.connect_refusal(acme, who="alice@acme.test", team=team, connected=connected)
    assert (refused in answer and bool(answer)) if refused else answer == ""


def test_upgrade_notice_renders_the_limits_from_the_table(client: Client, alice: User, monkeypatch):
    alice.company.plan = Plan.LITE
    alice.company.save()
    monkeypatch.setitem(plans.POLICY, Plan.ULTIMATE, plans.PlanPolicy(True, 7, True))
    client.force_login(alice)
    page = client.get(reverse("email_sync:general")).content.decode()
    assert "Mailboxes per plan: Growth 1 (personal), Premium 3 (team mailboxes included), Ultimate 7." in page


def test_require_email_sync_refuses_every_guarded_view_without_email_sync(
    client: Client, alice: User, sales_mailbox
):
    """The decorator, not a copied `if`, stands in front of each action: on Lite each answers
    403 before doing anything; the readable pages stay 200."""
    alice.company.plan = Plan.LITE
    alice.company.save()
    client.force_login(alice)
    guarded = [
        reverse("email_sync:general"),
        reverse("email_sync:account_switches", args=[sales_mailbox.pk]),
        reverse("email_sync:account_members", args=[sales_mailbox.pk]),
        reverse("email_sync:resume", args=[sales_mailbox.pk]),
    ]
    for url in guarded:
        response = client.post(url, {"archive_in_provider": "on", "members": [alice.pk]})
        assert response.status_code == 403, url
        assert "Upgrade to use Email sync" in response.content.decode(), url
    sales_mailbox.refresh_from_db()
    assert not sales_mailbox.archive_in_provider
    assert client.get(reverse("email_sync:general")).status_code == 200


APP_DIRS = ("accounts", "inbox", "sync", "api", "crm", "web", "config", "templates")
PLAN_NAME = re.compile(r"\b(Lite|Growth|Premium|Ultimate)\b")
LIMITS = re.compile(r"MAILBOX_LIMITS|\b(Growth|Premium|Ultimate) [0-9]")


def test_plan_names_and_limits_live_only_in_the_plan_policy():
    """grep for plan names and limits finds them only in accounts/plans.py (and migrations)."""
    found = []
    for top in APP_DIRS:
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in (".py", ".html", ".txt") or "migrations" in path.parts:
                continue
            if path == ROOT / "accounts" / "plans.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if PLAN_NAME.search(line) or LIMITS.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
