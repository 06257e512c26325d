"""Writes to CRM records: create, change and delete deals, persons and organizations.

Callers pass checked, typed values (the API parses its bodies first) and records already
scoped to the actor's company. Deleting a record never deletes mail: conversations keep
their messages and lose the link (the foreign keys are SET_NULL), and a person's addresses
go with the person, so their conversations stop showing in a History that no longer exists.

Which conversations show in a person's History follows their addresses only when the caller
says so: after ``save_person`` changes addresses, call ``inbox.services.relink_person`` (the
API and the admin do; crm never imports inbox, and no signal does it behind their back).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from accounts.models import User
from crm.models import Deal, Organization, Person, PersonEmail


class AddressTaken(Exception):
    """Another person of the company already has this e-mail address."""

    def __init__(self, address: str) -> None:
        super().__init__(f"Another person already has the e-mail address {address}.")
        self.address = address


@dataclass
class DealChanges:
    """Only the fields that are set change; ``person``/``organization`` None unlinks."""

    title: str | None = None
    owner: User | None = None
    value: Decimal | None = None
    currency: str | None = None
    status: str | None = None
    person: Person | None = None
    organization: Organization | None = None
    set_person: bool = False
    set_organization: bool = False


def create_deal(company_id: int, *, owner: User, title: str, changes: DealChanges) -> Deal:
    deal = Deal(company_id=company_id, owner=owner, title=title)
    return update_deal(deal, changes)


def update_deal(deal: Deal, changes: DealChanges) -> Deal:
    if changes.title is not None:
        deal.title = changes.title
    if changes.owner is not None:
        deal.owner = changes.owner
    if changes.value is not None:
        deal.value = changes.value
    if changes.currency is not None:
        deal.currency = changes.currency
    if changes.status is not None:
        deal.status = changes.status
    if changes.set_person:
        deal.person = changes.person
    if changes.set_organization:
        deal.organization = changes.organization
    deal.save()
    return deal


@dataclass
class PersonChanges:
    name: str | None = None
    owner: User | None = None
    organization: Organization | None = None
    set_organization: bool = False
    # address → primary; None leaves the addresses alone, a dict replaces them all.
    emails: dict[str, bool] | None = None
    phone: str | None = None


def _check_addresses(company_id: int, person_id: int | None, emails: dict[str, bool]) -> None:
    rows = PersonEmail.objects.annotate(lowered=Lower("email")).filter(
        company_id=company_id, lowered__in=list(emails)
    )
    if person_id is not None:  # the person's own addresses are not "taken"
        rows = rows.exclude(person_id=person_id)
    taken = rows.values_list("email", flat=True).first()
    if taken is not None:
        raise AddressTaken(taken)


def _replace_addresses(person: Person, emails: dict[str, bool]) -> None:
    primary = next((e for e, is_primary in emails.items() if is_primary), next(iter(emails), None))
    existing = {row.email: row for row in person.emails.all()}
    for address, old in existing.items():
        if address not in emails:
            old.delete()  # the caller's relink_person unlinks the conversations it carried
    for address in emails:
        row = existing.get(address)
        if row is None:
            PersonEmail.objects.create(
                company_id=person.company_id, person=person, email=address, primary=address == primary
            )
        elif row.primary != (address == primary):
            row.primary = address == primary
            row.save(update_fields=["primary"])


@transaction.atomic
def save_person(person: Person, changes: PersonChanges) -> Person:
    """Create (an unsaved ``person``) or update one; addresses must be free in the company."""
    emails = {e.lower(): p for e, p in changes.emails.items()} if changes.emails is not None else None
    if emails is not None:
        _check_addresses(person.company_id, person.pk, emails)
    if changes.name is not None:
        person.name = changes.name
    if changes.owner is not None:
        person.owner = changes.owner
    if changes.set_organization:
        person.organization = changes.organization
    if changes.phone is not None:
        person.phone = changes.phone
    try:
        with transaction.atomic():
            person.save()
            if emails is not None:
                _replace_addresses(person, emails)
    except IntegrityError as exc:  # the same address added by a concurrent request
        raise AddressTaken(next(iter(emails or {}), "")) from exc
    return person


@dataclass
class OrganizationChanges:
    name: str | None = None
    owner: User | None = None
    address: str | None = None  # "" clears it


def save_organization(org: Organization, changes: OrganizationChanges) -> Organization:
    if changes.name is not None:
        org.name = changes.name
    if changes.owner is not None:
        org.owner = changes.owner
    if changes.address is not None:
        org.address = changes.address
    org.save()
    return org


@transaction.atomic
def delete_record(record: Deal | Person | Organization) -> int:
    """Delete for good; linked mail stays and only loses the link. Returns the old id."""
    record_id = record.pk
    record.delete()
    return record_id
