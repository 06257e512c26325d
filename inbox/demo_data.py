"""A realistic demo company, scalable to 100,000 conversations with bulk inserts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Company, Plan, Role, Team, User
from crm.models import Deal, DealStatus, Lead, Organization, Person, PersonEmail, Project
from inbox.models import (
    AccountKind,
    Conversation,
    ConversationState,
    Direction,
    MailAccount,
    Message,
    Participant,
    Provider,
    ProviderRef,
)
from inbox.services.ingest import normalize_subject, snippet_of
from inbox.services.nudge import nudge_sync_after_commit

DEMO_COMPANY = "Demo Company"
DEMO_PASSWORD = "salesinbox-demo"  # noqa: S105  (printed on purpose: it is the demo login)
CHUNK = 2000

_ORGS = [
    ("Northwind Traders", "northwind.test"),
    ("Contoso Ltd", "contoso.test"),
    ("Fabrikam", "fabrikam.test"),
    ("Globex", "globex.test"),
    ("Initech", "initech.test"),
    ("Umbrella Health", "umbrella.test"),
    ("Stark Logistics", "stark.test"),
    ("Wayne Foods", "wayne.test"),
    ("Acme Robotics", "acme.test"),
    ("Hooli Cloud", "hooli.test"),
    ("Vandelay Imports", "vandelay.test"),
    ("Soylent Labs", "soylent.test"),
]
_FIRST = [
    "Anna",
    "Björn",
    "Carla",
    "David",
    "Elif",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kaja",
    "Liam",
    "Maya",
    "Nils",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
]
_LAST = ["Berg", "Lind", "Okafor", "Novak", "Silva", "Tanaka", "Meyer", "Costa", "Holm", "Rossi"]
_TOPICS = [
    "Pricing for the Q3 rollout",
    "Contract renewal",
    "Demo follow-up",
    "Security questionnaire",
    "Pilot results",
    "Invoice 2291",
    "Onboarding plan",
    "Volume discount",
    "Integration questions",
    "Next steps after our call",
    "Proposal v2",
    "Legal review of the MSA",
    "Kick-off agenda",
]
_BODIES = [
    "Thanks for the call today. As promised, here is a summary of what we discussed and the next steps.",
    "Could you send over the updated proposal with the volume tiers? Our CFO wants to see it before Friday.",
    "We reviewed the pilot numbers internally and they look promising. A few questions on the SSO setup.",
    "Attached is the signed NDA. Looking forward to the technical deep dive next week.",
    "Just checking in on the status of the contract. Legal had two small comments on section 4.",
]


@dataclass
class DemoSummary:
    company: Company
    created: bool
    conversations: int


def _users(company: Company, password: str) -> tuple[User, User]:
    alice = User.objects.create_user(
        "alice@demo.test",
        password,
        name="Alice Andersson",
        company=company,
        role=Role.ADMIN,
        is_staff=True,
        is_superuser=True,
    )
    bob = User.objects.create_user(
        "bob@demo.test", password, name="Bob Berg", company=company, role=Role.REGULAR
    )
    return alice, bob


@transaction.atomic
def seed_demo(
    *, conversations: int = 300, password: str = DEMO_PASSWORD, seed: int = 7, messages: int | None = None
) -> DemoSummary:
    """``messages`` fixes the messages per conversation (benchmarks); default 1-3 at random."""
    existing = Company.objects.filter(name=DEMO_COMPANY).first()
    if existing is not None:
        return DemoSummary(existing, False, Conversation.objects.filter(company=existing).count())
    rng = random.Random(seed)
    company = Company.objects.create(name=DEMO_COMPANY, plan=Plan.PREMIUM)
    alice, bob = _users(company, password)
    team = Team.objects.create(company=company, name="Sales team")
    team.members.set([alice, bob])

    orgs = Organization.objects.bulk_create(
        [Organization(company=company, name=n, domain=d, owner=alice) for n, d in _ORGS]
    )
    persons: list[Person] = []
    emails: list[PersonEmail] = []
    for i in range(120):
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
        persons.append(
            Person(company=company, name=f"{first} {last}", organization=orgs[i % len(orgs)], owner=alice)
        )
    persons = Person.objects.bulk_create(persons)
    for i, person in enumerate(persons):
        org = person.organization
        assert org is not None
        local = person.name.lower().replace(" ", ".").replace("ö", "o")
        emails.append(
            PersonEmail(company=company, person=person, email=f"{local}{i}@{org.domain}", primary=True)
        )
        if i % 5 == 0:  # some people write from a second address
            emails.append(PersonEmail(company=company, person=person, email=f"{local}{i}@gmail.test"))
    PersonEmail.objects.bulk_create(emails)
    email_of: dict[int, list[str]] = {}
    for e in emails:
        email_of.setdefault(e.person_id, []).append(e.email)

    deals = Deal.objects.bulk_create(
        [
            Deal(
                company=company,
                title=f"{org.name} — {topic}",
                value=Decimal(rng.randrange(5, 250) * 1000),
                status=rng.choice([DealStatus.OPEN] * 3 + [DealStatus.WON, DealStatus.LOST]),
                person=persons[i * 3],
                organization=org,
                owner=rng.choice([alice, bob]),
            )
            for i, (org, topic) in enumerate(
                # Each organization has one deal of each kind: no two deals share a title.
                zip(orgs * 2, ["Platform licence"] * len(orgs) + ["Expansion"] * len(orgs), strict=True)
            )
        ]
    )
    leads = Lead.objects.bulk_create(
        [
            Lead(
                company=company,
                title=f"Inbound: {persons[i * 7].name}",
                person=persons[i * 7],
                organization=persons[i * 7].organization,
                owner=bob,
            )
            for i in range(10)
        ]
    )
    projects = Project.objects.bulk_create(
        [
            Project(company=company, title=t, owner=alice)
            for t in ("Nordics launch", "Partner programme", "Q4 renewals")
        ]
    )
    accounts = [
        MailAccount.objects.create(
            company=company,
            kind=AccountKind.PERSONAL,
            owner=alice,
            provider=Provider.DEMO,
            address="alice@demo.test",
            name="Alice (demo mailbox)",
        ),
        MailAccount.objects.create(
            company=company,
            kind=AccountKind.PERSONAL,
            owner=bob,
            provider=Provider.DEMO,
            address="bob@demo.test",
            name="Bob (demo mailbox)",
        ),
    ]
    team_account = MailAccount.objects.create(
        company=company,
        kind=AccountKind.TEAM,
        provider=Provider.DEMO,
        address="sales@demo.test",
        name="Sales team (demo mailbox)",
    )
    team_account.members.set([alice, bob])
    accounts.append(team_account)

    now = timezone.now()
    made = 0
    while made < conversations:
        batch = min(CHUNK, conversations - made)
        _seed_chunk(
            rng, company, accounts, persons, email_of, deals, leads, projects, batch, made, now, messages
        )
        made += batch
    for account in accounts:
        # The first sync places the mail in the simulated external mailbox (status page).
        nudge_sync_after_commit(account.pk)
    return DemoSummary(company, True, made)


def _demo_html(text: str, organization: Organization | None) -> str:
    from html import escape

    name = escape(organization.name if organization else "Our team")
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in text.split("\n") if line)
    return (
        f'<div style="font-family:Arial,sans-serif;color:#1d2430">'
        f'<h2 style="color:#1f6feb">{name}</h2>{paragraphs}'
        f'<p><img src="https://tracker.example.com/open.gif?id=1" width="1" height="1" alt="">'
        f'<a href="https://example.com/proposal">Open the proposal</a></p>'
        f"<script>alert('never runs')</script></div>"
    )


def _seed_chunk(rng, company, accounts, persons, email_of, deals, leads, projects, n, offset, now, messages):  # type: ignore[no-untyped-def]
    convs: list[Conversation] = []
    plans: list[tuple[MailAccount, Person, int, list]] = []
    for i in range(n):
        account = rng.choices(accounts, weights=[45, 35, 20])[0]
        person = rng.choice(persons)
        subject = rng.choice(_TOPICS)
        count = messages or rng.choice([1, 2, 3, 3])
        # The newest message is a minute or more in the past; earlier replies go back from it.
        last = now - timedelta(minutes=1 + 7 * (offset + i) + rng.randrange(0, 7))
        times = [last - timedelta(minutes=37 * (count - 1 - k)) for k in range(count)]
        directions = [Direction.INCOMING if k % 2 == 0 else Direction.OUTGOING for k in range(count)]
        link = rng.random()
        deal = rng.choice(deals) if link < 0.3 else None
        lead = rng.choice(leads) if 0.3 <= link < 0.38 else None
        convs.append(
            Conversation(
                company=company,
                account=account,
                subject=subject if count == 1 else f"Re: {subject}",
                normalized_subject=normalize_subject(subject),
                snippet=snippet_of(rng.choice(_BODIES)),
                state=ConversationState.ARCHIVED if rng.random() < 0.2 else ConversationState.INBOX,
                first_message_at=times[0],
                last_message_at=times[-1],
                message_count=count,
                has_incoming=Direction.INCOMING in directions,
                has_outgoing=Direction.OUTGOING in directions,
                is_read=rng.random() < 0.6,
                deal=deal,
                lead=lead,
            )
        )
        plans.append((account, person, i, list(zip(times, directions, strict=True))))
    convs = Conversation.objects.bulk_create(convs, batch_size=CHUNK)
    messages: list[Message] = []
    participants: list[Participant] = []
    project_links = []
    through = Conversation.projects.through
    for conv, (account, person, i, timeline) in zip(convs, plans, strict=True):
        their = email_of[person.pk][0]
        previous = ""
        for k, (when, direction) in enumerate(timeline):
            mid = f"<demo-{offset + i}-{k}@demo.test>"
            incoming = direction == Direction.INCOMING
            signature = person.name if incoming else account.name
            text = rng.choice(_BODIES) + f"\n\nBest,\n{signature}"
            messages.append(
                Message(
                    conversation=conv,
                    account=account,
                    message_id=mid,
                    in_reply_to=previous,
                    references=[previous] if previous else [],
                    subject=conv.subject,
                    from_address=their if incoming else account.address,
                    from_name=person.name if incoming else account.name,
                    to=[{"email": account.address if incoming else their, "name": ""}],
                    sent_at=when,
                    text=text,
                    # Some customers send HTML newsletters-style mail with a tracking pixel:
                    # the demo shows the sandboxed view and the blocked remote image.
                    html=_demo_html(text, person.organization) if incoming and (offset + i) % 7 == 0 else "",
                    direction=direction,
                )
            )
            previous = mid
        participants.append(
            Participant(conversation=conv, address=their, name=person.name, person=person, is_sender=True)
        )
        participants.append(Participant(conversation=conv, address=account.address, name=account.name))
        if rng.random() < 0.1:
            project_links.append(through(conversation_id=conv.pk, project_id=rng.choice(projects).pk))
    Message.objects.bulk_create(messages, batch_size=CHUNK)
    # Where each message sits in the demo's simulated external mailbox (sync/providers/demo.py).
    state_of = {c.pk: c.state for c in convs}
    ProviderRef.objects.bulk_create(
        [
            ProviderRef(
                message=m,
                account=m.account,
                key=f"demo:{m.message_id}",
                folder="Archive" if state_of[m.conversation_id] == ConversationState.ARCHIVED else "INBOX",
            )
            for m in messages
        ],
        batch_size=CHUNK,
    )
    Participant.objects.bulk_create(participants, batch_size=CHUNK)
    through.objects.bulk_create(project_links, batch_size=CHUNK)
