from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import Company, Plan, User
from inbox import selectors
from inbox.models import Conversation, MailAccount, Message

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_a_usable_premium_company_once(capsys):
    call_command("seed_demo", conversations=120)
    out = capsys.readouterr().out
    assert "alice@demo.test" in out and "salesinbox-demo" in out
    company = Company.objects.get(name="Demo Company")
    assert company.plan == Plan.PREMIUM
    alice = User.objects.get(email="alice@demo.test")
    assert alice.check_password("salesinbox-demo") and alice.is_company_admin
    assert Conversation.objects.filter(company=company).count() == 120
    assert Message.objects.filter(conversation__company=company).count() >= 120
    assert MailAccount.objects.filter(company=company, provider="demo").count() == 3
    # alice sees her mailbox and the team mailbox, and linked deals have History
    assert selectors.folder_page(alice, "inbox").conversations
    linked = Conversation.objects.filter(
        deal__isnull=False, account__in=selectors.accessible_accounts(alice)
    ).first()
    assert linked is not None
    assert linked.pk in {m.conversation_id for m in selectors.history_emails(alice, "deal", linked.deal_id)}
    call_command("seed_demo", conversations=120)
    assert "already there" in capsys.readouterr().out
    assert Conversation.objects.filter(company=company).count() == 120
