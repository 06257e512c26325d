"""The API's writes: parse and check a request's input in full, then call the services —
inbox.services for mail (so sync switches, the outbox, tombstones and audit all apply),
crm.services for deals, persons and organizations. Nothing here writes a model itself;
the writes of one request commit or roll back together.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from api import fields, selectors
from api.errors import ApiError
from api.fields import UNSET, Body
from crm import services as crm_services
from crm.models import Deal, DealStatus, Organization, Person
from crm.selectors import company_records
from inbox import services
from inbox.models import Conversation


def company_of(user: User) -> int:
    # Token auth only admits users who belong to a company (api.tokens.user_for_token).
    assert user.company_id is not None
    return user.company_id


def _company_row(user: User, kind: str, record_id: int, label: str) -> Any:
    # A well-formed id that names nothing of this company: 404, like a wrong URL id.
    row = company_records(user, kind).filter(pk=record_id).first()
    if row is None:
        raise ApiError(404, f"{label} {record_id} not found.")
    return row


def _company_user(user: User, user_id: int, name: str) -> User:
    owner = User.objects.filter(pk=user_id, company_id=company_of(user), is_active=True).first()
    if owner is None:
        raise ApiError(404, f"{name}: user {user_id} not found.")
    return owner


# --- mail threads ----------------------------------------------------------------------


def _forbid_if_only_visible(user: User, conversation: Conversation) -> None:
    if not selectors.is_actionable(user, conversation.pk):
        raise ApiError(
            403, "This thread is shared with you read-only; only its mailbox's users may change it."
        )


def update_thread(user: User, thread_id: int, body: Body) -> Conversation:
    """PUT /mailbox/mailThreads/{id}: deal_id, lead_id, shared_flag, read_flag, archived_flag."""
    conversation = selectors.get_thread(user, thread_id)
    deal_id = fields.optional_id(body, "deal_id")
    lead_id = fields.optional_id(body, "lead_id")
    shared = fields.flag(body, "shared_flag")
    read = fields.flag(body, "read_flag")
    archived = fields.flag(body, "archived_flag")
    if isinstance(deal_id, int) and isinstance(lead_id, int):
        raise ApiError(400, "A thread links to a deal or a lead, not both.")
    if deal_id is UNSET and lead_id is UNSET and shared is None and read is None and archived is None:
        return conversation  # nothing asked for
    if isinstance(deal_id, int):
        _company_row(user, "deal", deal_id, "Deal")
    if isinstance(lead_id, int):
        _company_row(user, "lead", lead_id, "Lead")
    _forbid_if_only_visible(user, conversation)
    # Which threads may be archived is inbox.folders.can_archive, enforced by the service.

    with transaction.atomic():
        if isinstance(deal_id, int):
            services.link_deal(user, conversation.pk, deal_id)
        elif isinstance(lead_id, int):
            services.link_lead(user, conversation.pk, lead_id)
        elif (deal_id is None and conversation.deal_id is not None) or (
            lead_id is None and conversation.lead_id is not None
        ):
            services.unlink_deal_or_lead(user, conversation.pk)
        if shared is not None and shared != conversation.shared:
            services.set_shared(user, conversation.pk, shared)
        if read is not None:
            services.mark_read(user, [conversation.pk], read=read)
        if archived is True:
            services.archive_conversations(user, [conversation.pk])
        elif archived is False:
            services.unarchive_conversations(user, [conversation.pk])
    return selectors.get_thread(user, conversation.pk)


def delete_thread(user: User, thread_id: int) -> int:
    conversation = selectors.get_thread(user, thread_id)
    _forbid_if_only_visible(user, conversation)
    services.delete_conversations(user, [conversation.pk])
    return conversation.pk


# --- CRM -------------------------------------------------------------------------------


def create_deal(user: User, body: Body) -> Deal:
    title = fields.required_text(body, "title", max_length=255)
    changes = crm_services.DealChanges(
        value=fields.money(body, "value"),
        currency=fields.currency(body),
        status=fields.choice(body, "status", tuple(DealStatus.values), DealStatus.OPEN),
        set_person=True,
        set_organization=True,
    )
    person_id = fields.optional_id(body, "person_id")
    org_id = fields.optional_id(body, "org_id")
    owner_id = fields.optional_id(body, "user_id")
    changes.person = _company_row(user, "person", person_id, "Person") if isinstance(person_id, int) else None
    changes.organization = (
        _company_row(user, "organization", org_id, "Organization") if isinstance(org_id, int) else None
    )
    owner = _company_user(user, owner_id, "user_id") if isinstance(owner_id, int) else user
    created = crm_services.create_deal(company_of(user), owner=owner, title=title, changes=changes)
    return selectors.one(selectors.deals(user), created.pk, "Deal")


def create_person(user: User, body: Body) -> Person:
    name = fields.required_text(body, "name", max_length=255)
    owner_id = fields.optional_id(body, "owner_id")
    org_id = fields.optional_id(body, "org_id")
    emails: dict[str, bool] = {}
    for address, primary in fields.entries(body, "email", pattern=fields.EMAIL_PATTERN):
        emails[address.lower()] = emails.get(address.lower(), False) or primary
    phones = [
        (p.strip(), primary)
        for p, primary in fields.entries(body, "phone", pattern=fields.PHONE_PATTERN)
        if p.strip()
    ]
    owner = _company_user(user, owner_id, "owner_id") if isinstance(owner_id, int) else user
    org = _company_row(user, "organization", org_id, "Organization") if isinstance(org_id, int) else None
    phone = next((p for p, primary in phones if primary), phones[0][0] if phones else "")
    person = Person(company_id=company_of(user), owner=owner)
    changes = crm_services.PersonChanges(
        name=name, organization=org, set_organization=True, emails=emails, phone=phone
    )
    _save_person(person, changes)
    return selectors.one(selectors.persons(user), person.pk, "Person")


# --- API v2: deals, persons, organizations -----------------------------------------------
# v2 bodies are JSON with Pipedrive's v2 field names. A field Pipedrive has and this server
# does not store (pipelines, labels, custom fields, …) is refused with a 400 naming it, so
# a client never believes something was saved that was not.

V2_DEAL_FIELDS = frozenset({"title", "owner_id", "person_id", "org_id", "value", "currency", "status"})
V2_PERSON_FIELDS = frozenset({"name", "owner_id", "org_id", "emails", "phones"})
V2_ORGANIZATION_FIELDS = frozenset({"name", "owner_id", "address"})
MAX_ADDRESS_LENGTH = 500


# JSON types per v2 field, as the OpenAPI document publishes them: v2 is typed JSON, so a
# digit string for an id or a bare string for a list of addresses is bad input (v1 forms
# are lenient because a form has only strings).
_NUMBER = "number"
_V2_TYPES: dict[str, str] = {
    "title": "string",
    "name": "string",
    "currency": "string",
    "status": "string",
    "owner_id": _NUMBER,
    "person_id": _NUMBER,
    "org_id": _NUMBER,
    "value": _NUMBER,
    "emails": "objects",
    "phones": "objects",
    "address": "object",
}


# Null unlinks (person_id, org_id) or clears (address); everywhere else it is bad input.
_V2_NULLABLE = frozenset({"person_id", "org_id", "address"})


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == _NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _only(body: Body, allowed: frozenset[str]) -> None:
    unsupported = sorted(set(body.data) - allowed)
    if unsupported:
        raise ApiError(
            400,
            f"Not supported by this server: {', '.join(unsupported)}. "
            f"Supported fields: {', '.join(sorted(allowed))} (see docs/api.md).",
        )
    for name, value in body.data.items():
        kind = _V2_TYPES[name]
        if value is None and name not in _V2_NULLABLE:
            raise ApiError(400, f"{name} cannot be null.")
        if value is not None and not _type_ok(value, kind):
            expected = {"objects": "a list of objects", "object": "an object"}.get(kind, f"a {kind}")
            raise ApiError(400, f"{name} must be {expected}.")


def _given(body: Body, name: str) -> bool:
    return body.raw(name) is not UNSET


def _not_null(body: Body, name: str) -> None:
    if body.raw(name) is None:
        raise ApiError(400, f"{name} cannot be null.")


def _owner(user: User, body: Body) -> User | None:
    _not_null(body, "owner_id")
    owner_id = fields.optional_id(body, "owner_id")
    return _company_user(user, owner_id, "owner_id") if isinstance(owner_id, int) else None


def _deal_changes(user: User, body: Body, *, creating: bool) -> crm_services.DealChanges:
    _only(body, V2_DEAL_FIELDS)
    changes = crm_services.DealChanges()
    if creating or _given(body, "title"):
        changes.title = fields.required_text(body, "title", max_length=255)
    changes.owner = _owner(user, body)
    for name in ("value", "currency", "status"):
        _not_null(body, name)
    if _given(body, "value"):
        changes.value = fields.money(body, "value")
    if _given(body, "currency"):
        changes.currency = fields.currency(body)
    if _given(body, "status"):
        changes.status = fields.choice(body, "status", tuple(DealStatus.values), DealStatus.OPEN)
    person_id = fields.optional_id(body, "person_id")
    if person_id is not UNSET:
        changes.set_person = True
        changes.person = (
            _company_row(user, "person", person_id, "Person") if isinstance(person_id, int) else None
        )
    org_id = fields.optional_id(body, "org_id")
    if org_id is not UNSET:
        changes.set_organization = True
        changes.organization = (
            _company_row(user, "organization", org_id, "Organization") if isinstance(org_id, int) else None
        )
    return changes


def create_deal_v2(user: User, body: Body) -> Deal:
    changes = _deal_changes(user, body, creating=True)
    assert changes.title is not None
    created = crm_services.create_deal(
        company_of(user), owner=changes.owner or user, title=changes.title, changes=changes
    )
    return selectors.one(selectors.deals_v2(user), created.pk, "Deal")


def update_deal_v2(user: User, deal_id: int, body: Body) -> Deal:
    deal = _company_row(user, "deal", deal_id, "Deal")
    crm_services.update_deal(deal, _deal_changes(user, body, creating=False))
    return selectors.one(selectors.deals_v2(user), deal.pk, "Deal")


def _person_changes(user: User, body: Body, *, creating: bool) -> crm_services.PersonChanges:
    _only(body, V2_PERSON_FIELDS)
    changes = crm_services.PersonChanges()
    if creating or _given(body, "name"):
        changes.name = fields.required_text(body, "name", max_length=255)
    changes.owner = _owner(user, body)
    org_id = fields.optional_id(body, "org_id")
    if org_id is not UNSET:
        changes.set_organization = True
        changes.organization = (
            _company_row(user, "organization", org_id, "Organization") if isinstance(org_id, int) else None
        )
    if _given(body, "emails"):
        emails: dict[str, bool] = {}
        for address, primary in fields.entries(body, "emails", pattern=fields.EMAIL_PATTERN):
            emails[address.lower()] = emails.get(address.lower(), False) or primary
        changes.emails = emails
    if _given(body, "phones"):
        phones = fields.entries(body, "phones", pattern=fields.PHONE_PATTERN)
        if len(phones) > 1:
            raise ApiError(400, "phones: this server keeps one phone number per person.")
        changes.phone = phones[0][0].strip() if phones else ""
    return changes


def _save_person(person: Person, changes: crm_services.PersonChanges) -> None:
    """Save through crm.services, then link the History explicitly: conversations already
    carrying the person's addresses show in it, those of a removed address leave it."""
    try:
        with transaction.atomic():
            crm_services.save_person(person, changes)
            if changes.emails is not None:
                services.relink_person(person)
    except crm_services.AddressTaken as exc:
        raise ApiError(409, str(exc)) from exc


def create_person_v2(user: User, body: Body) -> Person:
    changes = _person_changes(user, body, creating=True)
    person = Person(company_id=company_of(user), owner=changes.owner or user)
    _save_person(person, changes)
    return selectors.one(selectors.persons_v2(user), person.pk, "Person")


def update_person_v2(user: User, person_id: int, body: Body) -> Person:
    person = _company_row(user, "person", person_id, "Person")
    _save_person(person, _person_changes(user, body, creating=False))
    return selectors.one(selectors.persons_v2(user), person.pk, "Person")


def _organization_changes(user: User, body: Body, *, creating: bool) -> crm_services.OrganizationChanges:
    _only(body, V2_ORGANIZATION_FIELDS)
    changes = crm_services.OrganizationChanges()
    if creating or _given(body, "name"):
        changes.name = fields.required_text(body, "name", max_length=255)
    changes.owner = _owner(user, body)
    address = body.raw("address")
    if address is None:
        changes.address = ""
    elif address is not UNSET:
        # Pipedrive's address object; only its full text (value) is stored here.
        if not isinstance(address, dict) or set(address) - {"value"}:
            raise ApiError(400, 'address must be null or {"value": "…"}; its parts are not stored here.')
        value = address.get("value")
        if value is not None and not isinstance(value, str):
            raise ApiError(400, "address.value must be text.")
        changes.address = (value or "").strip()
        fields.check_text(changes.address, "address.value", max_length=MAX_ADDRESS_LENGTH)
    return changes


def create_organization_v2(user: User, body: Body) -> Organization:
    changes = _organization_changes(user, body, creating=True)
    org = Organization(company_id=company_of(user), owner=changes.owner or user)
    crm_services.save_organization(org, changes)
    return selectors.one(selectors.organizations_v2(user), org.pk, "Organization")


def update_organization_v2(user: User, organization_id: int, body: Body) -> Organization:
    org = _company_row(user, "organization", organization_id, "Organization")
    crm_services.save_organization(org, _organization_changes(user, body, creating=False))
    return selectors.one(selectors.organizations_v2(user), org.pk, "Organization")


def delete_record_v2(user: User, kind: str, record_id: int) -> int:
    """Delete a deal, person or organization of the company (the mail stays, unlinked)."""
    label = {"deal": "Deal", "person": "Person", "organization": "Organization"}[kind]
    return crm_services.delete_record(_company_row(user, kind, record_id, label))
