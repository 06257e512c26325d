"""The API's writes. Mailbox changes go through inbox.services, exactly as the UI's do,
so sync switches, the outbox, tombstones and audit all apply. Input is checked in full
before the first write, and the writes of one request commit or roll back together.

Creating deals and persons has no service in crm yet; it lives here, company-scoped,
until crm grows a services module.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from accounts.models import User
from api import fields, selectors
from api.errors import ApiError
from api.fields import UNSET, Body
from crm.models import Deal, DealStatus, Person, PersonEmail
from crm.selectors import company_records
from inbox import services
from inbox.models import Conversation, ConversationState
from inbox.services.links import link_participants_to_person


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
    in_inbox = conversation.state == ConversationState.INBOX and conversation.has_incoming
    if archived is True and not in_inbox and conversation.state != ConversationState.ARCHIVED:
        # As in Pipedrive: only a thread in the Inbox folder can be archived. The request
        # is well-formed; the thread's state is what stands in the way, hence 409.
        raise ApiError(409, "Only threads in the Inbox folder can be archived.")

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
    value = fields.money(body, "value")
    currency = fields.currency(body)
    status = fields.choice(body, "status", tuple(DealStatus.values), DealStatus.OPEN)
    person_id = fields.optional_id(body, "person_id")
    org_id = fields.optional_id(body, "org_id")
    owner_id = fields.optional_id(body, "user_id")
    person = _company_row(user, "person", person_id, "Person") if isinstance(person_id, int) else None
    org = _company_row(user, "organization", org_id, "Organization") if isinstance(org_id, int) else None
    owner = _company_user(user, owner_id, "user_id") if isinstance(owner_id, int) else user
    created = Deal.objects.create(
        company_id=company_of(user),
        owner=owner,
        title=title,
        value=value,
        currency=currency,
        status=status,
        person=person,
        organization=org,
    )
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
    taken = list(
        PersonEmail.objects.annotate(lowered=Lower("email"))
        .filter(company_id=company_of(user), lowered__in=list(emails))
        .values_list("email", flat=True)[:1]
    )
    if taken:
        raise ApiError(409, f"Another person already has the e-mail address {taken[0]}.")
    phone = next((p for p, primary in phones if primary), phones[0][0] if phones else "")
    primary_email = next((e for e, primary in emails.items() if primary), next(iter(emails), None))
    try:
        with transaction.atomic():
            created = Person.objects.create(
                company_id=company_of(user), owner=owner, name=name, organization=org, phone=phone
            )
            for address in emails:
                row = PersonEmail.objects.create(
                    company_id=company_of(user),
                    person=created,
                    email=address,
                    primary=address == primary_email,
                )
                # Conversations already carrying this address now show in the person's History.
                link_participants_to_person(row)
    except IntegrityError as exc:  # the same address added by a concurrent request
        raise ApiError(409, "Another person already has one of these e-mail addresses.") from exc
    return selectors.one(selectors.persons(user), created.pk, "Person")


__all__ = ["create_deal", "create_person", "delete_thread", "update_thread"]
