"""Every page of the app a signed-in rep can reach, on demo data (for the page-wide checks)."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from crm.models import Deal, Lead, Organization, Person, Project
from inbox.demo_data import seed_demo
from inbox.models import Conversation, MailAccount


@dataclass(frozen=True)
class DemoPages:
    alice: User
    bob: User
    paths: dict[str, str]


def demo_pages(conversations: int = 40) -> DemoPages:
    seed_demo(conversations=conversations)
    alice = User.objects.get(email="alice@demo.test")
    bob = User.objects.get(email="bob@demo.test")
    convo = (
        Conversation.objects.filter(account__owner=alice, state="inbox", deal__isnull=False)
        .order_by("-last_message_at")
        .first()
        or Conversation.objects.filter(account__owner=alice).order_by("-last_message_at").first()
    )
    assert convo is not None
    team = MailAccount.objects.get(address="sales@demo.test")
    own = MailAccount.objects.get(address="alice@demo.test")
    paths = {
        "inbox": "/inbox/",
        "sent": "/inbox/folder/sent/",
        "archive": "/inbox/folder/archive/",
        "search": "/inbox/?q=pricing",
        "conversation": f"/inbox/c/{convo.pk}/",
        "activity": "/inbox/activity/",
        "deals": "/crm/deal/",
        "leads": "/crm/lead/",
        "projects": "/crm/project/",
        "people": "/crm/person/",
        "organizations": "/crm/organization/",
        "deal": f"/crm/deal/{Deal.objects.filter(company=alice.company).first().pk}/",
        "lead": f"/crm/lead/{Lead.objects.filter(company=alice.company).first().pk}/",
        "project": f"/crm/project/{Project.objects.filter(company=alice.company).first().pk}/",
        "person": f"/crm/person/{Person.objects.filter(company=alice.company).first().pk}/",
        "organization": f"/crm/organization/{Organization.objects.filter(company=alice.company).first().pk}/",
        "settings": "/settings/email-sync/",
        "team-account": f"/settings/email-sync/accounts/{team.pk}/",
        "status": f"/settings/email-sync/accounts/{own.pk}/status/",
        "disconnect": f"/settings/email-sync/accounts/{own.pk}/disconnect/",
        "connect": "/settings/email-sync/connect/",
        "api": "/settings/api/",
        "time-zone": "/settings/time-zone/",
        "plan": "/settings/plan/",
        "not-found": "/inbox/c/999999999/",
    }
    return DemoPages(alice, bob, paths)
