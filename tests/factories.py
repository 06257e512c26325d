from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import Company, Plan, Role, User
from crm.models import Deal, Lead, Organization, Person, PersonEmail, Project
from inbox.models import AccountKind, MailAccount, Provider, UserSyncSettings
from inbox.services import ingest_message, relink_person
from inbox.types import Address, ParsedMessage, RefData


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")
    plan = Plan.PREMIUM


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    company = factory.SubFactory(CompanyFactory)
    role = Role.REGULAR
    password = factory.django.Password("pw-123456789")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    name = factory.Sequence(lambda n: f"Person {n}")


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deal

    title = factory.Sequence(lambda n: f"Deal {n}")


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    title = factory.Sequence(lambda n: f"Lead {n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    title = factory.Sequence(lambda n: f"Project {n}")


def add_person(company: Company, name: str, *emails: str, organization: Organization | None = None) -> Person:
    """A person with addresses (none primary), their existing mail linked explicitly as the
    API and the admin do (inbox.services.relink_person; no signal does it)."""
    person = Person.objects.create(company=company, name=name, organization=organization)
    for email in emails:
        PersonEmail.objects.create(company=company, person=person, email=email)
    relink_person(person)
    return person


def personal_account(user: User, *, provider: str = Provider.IMAP, address: str | None = None) -> MailAccount:
    return MailAccount.objects.create(
        company=user.company,
        kind=AccountKind.PERSONAL,
        owner=user,
        provider=provider,
        address=address or user.email,
    )


def team_account(
    company: Company,
    members: list[User],
    *,
    address: str = "sales@example.test",
    provider: str = Provider.IMAP,
) -> MailAccount:
    account = MailAccount.objects.create(
        company=company, kind=AccountKind.TEAM, provider=provider, address=address
    )
    account.members.set(members)
    return account


def switches(user: User, *, archive: bool = False, delete: bool = False) -> UserSyncSettings:
    row, _ = UserSyncSettings.objects.update_or_create(
        user=user, defaults={"archive_in_provider": archive, "delete_in_provider": delete}
    )
    return row


_counter = iter(range(1, 10_000_000))


def parsed(
    *,
    subject: str = "Pricing",
    sender: str = "customer@client.test",
    to: tuple[str, ...] = ("rep@example.test",),
    message_id: str | None = None,
    in_reply_to: str = "",
    references: list[str] | None = None,
    when: timezone.datetime | None = None,
    incoming: bool = True,
    text: str = "Hello there",
) -> ParsedMessage:
    n = next(_counter)
    return ParsedMessage(
        message_id=message_id if message_id is not None else f"<m{n}@client.test>",
        subject=subject,
        sender=Address(sender, sender.split("@")[0].title()),
        to=[Address(a) for a in to],
        cc=[],
        date=when or timezone.now() - timedelta(minutes=n % 1000),
        text=text,
        in_reply_to=in_reply_to,
        references=references or [],
        incoming=incoming,
    )


def receive(account: MailAccount, message: ParsedMessage | None = None, *, folder: str = "INBOX", **kwargs):  # type: ignore[no-untyped-def]
    """Ingest a message as a sync would, with an IMAP-shaped provider reference."""
    message = message or parsed(to=(account.address,), **kwargs)
    uid = next(_counter)
    ref = RefData(key=f"imap:{folder}:1:{uid}", folder=folder, uidvalidity=1, uid=uid)
    return ingest_message(account, message, ref)
