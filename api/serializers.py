"""Model → Pipedrive v1 object shapes. Pure functions over prefetched rows: no queries.

Flags are 0/1 integers and timestamps "YYYY-MM-DD HH:MM:SS" in UTC, as Pipedrive sends
them; the ``*_local_time`` fields give mail times in the token owner's time zone. Lead ids
are strings (Pipedrive's are UUID strings; ours are numbers in a string) so clients typed
against Pipedrive keep working.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone

from accounts.models import User
from crm.models import Deal, Lead, Organization, Person
from inbox.folders import in_folder
from inbox.models import (
    Attachment,
    Conversation,
    ConversationState,
    Direction,
    Message,
    OutgoingMessage,
    Participant,
)
from inbox.services.ingest import snippet_of

JSON = dict[str, Any]


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def rfc3339(value: datetime | None) -> str | None:
    """UTC "YYYY-MM-DDTHH:MM:SSZ": API v2 timestamps and v1 leads (Pipedrive's format there)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_time(value: datetime | None) -> str | None:
    """The same format in the active zone: the token owner's (api.http activates it)."""
    if value is None:
        return None
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def zone_name() -> str:
    return str(timezone.get_current_timezone())


def flag(value: bool) -> int:
    return 1 if value else 0


def number(value: Decimal | None) -> float | None:
    # DjangoJSONEncoder would write a Decimal as a string; Pipedrive sends numbers.
    return None if value is None else float(value)


def user_ref(user: User | None) -> JSON | None:
    if user is None:
        return None
    return {
        "id": user.pk,
        "name": user.get_full_name(),
        "email": user.email,
        "has_pic": 0,
        "pic_hash": None,
        "active_flag": user.is_active,
        "value": user.pk,
    }


def _emails(person: Person) -> list[JSON]:
    rows = sorted(person.emails.all(), key=lambda e: (not e.primary, e.pk))
    return [{"label": "work", "value": e.email, "primary": i == 0} for i, e in enumerate(rows)]


def _phones(person: Person) -> list[JSON]:
    return [{"label": "work", "value": person.phone, "primary": True}] if person.phone else []


def person_ref(person: Person | None) -> JSON | None:
    if person is None:
        return None
    return {
        "active_flag": True,
        "name": person.name,
        "email": _emails(person),
        "phone": _phones(person),
        "owner_id": person.owner_id,
        "value": person.pk,
    }


def org_ref(org: Organization | None) -> JSON | None:
    if org is None:
        return None
    return {
        "name": org.name,
        "owner_id": org.owner_id,
        "address": org.address or None,
        "active_flag": True,
        "value": org.pk,
    }


# --- mailbox ---------------------------------------------------------------------------


def _party(participant: Participant | None, address: str, name: str) -> JSON:
    person = participant.person if participant is not None else None
    party_id = participant.pk if participant is not None else None
    return {
        "id": party_id,
        "email_address": address,
        "name": name or (participant.name if participant is not None else ""),
        "linked_person_id": person.pk if person is not None else None,
        "linked_person_name": person.name if person is not None else None,
        "mail_message_party_id": party_id,
    }


def thread_folders(conversation: Conversation) -> list[str]:
    """The folders a thread is in, by the one folder rule (inbox.folders); "drafts" when the
    user has a draft in it (``user_drafts``, annotated by the API's selectors)."""
    folders = [folder for folder in ("inbox", "sent") if in_folder(conversation, folder)]
    if getattr(conversation, "user_drafts", 0):
        folders.append("drafts")
    if in_folder(conversation, "archive"):
        folders.append("archive")
    return folders


def thread(conversation: Conversation) -> JSON:
    """Needs ``account``, ``deal``, ``lead`` and ``participants__person`` loaded."""
    account = conversation.account
    participants = list(conversation.participants.all())
    return {
        "id": conversation.pk,
        "account_id": str(conversation.account_id),
        "user_id": account.owner_id,
        "subject": conversation.subject,
        "snippet": conversation.snippet,
        "read_flag": flag(conversation.is_read),
        "has_attachments_flag": flag(conversation.has_attachments),
        "deleted_flag": 0,  # a deleted conversation is gone from the app: never listed
        "synced_flag": flag(account.is_connected),
        "shared_flag": flag(conversation.shared),
        "archived_flag": flag(conversation.state == ConversationState.ARCHIVED),
        "external_deleted_flag": 0,  # deleted externally → deleted here too, so never seen
        "has_sent_flag": flag(conversation.has_outgoing),
        "all_messages_sent_flag": flag(conversation.has_outgoing and not conversation.has_incoming),
        "has_draft_flag": flag(bool(getattr(conversation, "user_drafts", 0))),
        "smart_bcc_flag": 0,  # no Smart BCC here
        "mail_link_tracking_enabled_flag": 0,  # no link tracking here
        "parties": {
            "to": [_party(p, p.address, p.name) for p in participants if not p.is_sender],
            "from": [_party(p, p.address, p.name) for p in participants if p.is_sender],
        },
        "folders": thread_folders(conversation),
        "message_count": conversation.message_count,
        "first_message_timestamp": timestamp(conversation.first_message_at),
        "last_message_timestamp": timestamp(conversation.last_message_at),
        "first_message_local_time": local_time(conversation.first_message_at),
        "last_message_local_time": local_time(conversation.last_message_at),
        "time_zone": zone_name(),
        "add_time": timestamp(conversation.created_at),
        "update_time": timestamp(conversation.updated_at),
        "deal_id": conversation.deal_id,
        "deal_status": conversation.deal.status if conversation.deal is not None else None,
        "lead_id": str(conversation.lead_id) if conversation.lead_id is not None else None,
    }


def _outgoing(msg: Message) -> OutgoingMessage | None:
    """The message's send record, if it was written in the app (select_related it)."""
    try:
        return msg.outgoing
    except ObjectDoesNotExist:
        return None


def message(msg: Message, conversation: Conversation, *, include_body: bool = False) -> JSON:
    """Needs the conversation with ``account`` and ``participants__person`` loaded."""
    by_address = {p.address: p for p in conversation.participants.all()}

    def parties(entries: list[dict[str, str]]) -> list[JSON]:
        out = []
        for entry in entries:
            address = (entry.get("email") or "").lower()
            out.append(_party(by_address.get(address), address, entry.get("name") or ""))
        return out

    sender = [{"email": msg.from_address, "name": msg.from_name}] if msg.from_address else []
    outgoing = _outgoing(msg)
    data: JSON = {
        "id": msg.pk,
        "mail_thread_id": msg.conversation_id,
        "account_id": str(msg.account_id),
        "user_id": conversation.account.owner_id,
        "subject": msg.subject,
        "snippet": snippet_of(msg.text),
        "from": parties(sender),
        "to": parties(msg.to),
        "cc": parties(msg.cc),
        "bcc": [],
        "read_flag": flag(conversation.is_read),
        "draft_flag": 0,
        "draft": None,  # drafts live in the app, never as messages
        "synced_flag": flag(conversation.account.is_connected),
        "deleted_flag": 0,
        "external_deleted_flag": 0,
        "has_body_flag": flag(bool(msg.text or msg.html)),
        # Sent from the app: "sent" only once it has left (not while Undo is possible, nor
        # when it failed); sent_from_pipedrive_flag says it was written here.
        "sent_flag": flag(
            msg.direction == Direction.OUTGOING and (outgoing is None or outgoing.state == "sent")
        ),
        "sent_from_pipedrive_flag": flag(outgoing is not None),
        "smart_bcc_flag": 0,
        "mail_link_tracking_enabled_flag": 0,
        "has_attachments_flag": flag(bool(msg.attachments)),
        "has_inline_attachments_flag": flag(any(a.get("inline") for a in msg.attachments)),
        "has_real_attachments_flag": flag(any(not a.get("inline") for a in msg.attachments)),
        "mua_message_id": msg.message_id,
        "message_time": timestamp(msg.sent_at),
        "message_local_time": local_time(msg.sent_at),
        "time_zone": zone_name(),
        "add_time": timestamp(msg.created_at),
        "update_time": timestamp(msg.created_at),  # messages never change once stored
        "item_type": "mailMessage",
    }
    if include_body:
        # The stored body as received (Pipedrive also returns it raw); the text part
        # when the mail had no HTML.
        data["body"] = msg.html or msg.text
    return data


def file(attachment: Attachment) -> JSON:
    """A mail attachment as Pipedrive's File object (the fields a mail file has there)."""
    from django.urls import reverse

    name = attachment.filename or "attachment"
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    return {
        "id": attachment.pk,
        "mail_message_id": attachment.message_id,
        "file_name": name,
        "name": name,
        "file_type": extension,
        "mime_type": attachment.content_type,
        "file_size": attachment.size,
        "inline_flag": flag(attachment.inline),
        "cid": attachment.content_id or None,
        "active_flag": True,
        "remote_location": None,
        "add_time": timestamp(attachment.message.created_at),
        "update_time": timestamp(attachment.kept_at or attachment.message.created_at),
        "url": reverse("api:file_download", args=[attachment.pk]),
    }


def flow_item(data: JSON) -> JSON:
    """The wrapper Pipedrive uses in /deals/{id}/mailMessages and /persons/{id}/mailMessages."""
    return {"object": "mailMessage", "timestamp": data["message_time"], "data": data}


# --- CRM -------------------------------------------------------------------------------


def deal(d: Deal) -> JSON:
    """Needs ``owner``, ``organization`` and ``person__emails`` loaded."""
    return {
        "id": d.pk,
        "title": d.title,
        "value": number(d.value),
        "currency": d.currency,
        "status": d.status,
        "active": d.status == "open",
        "deleted": False,
        "user_id": user_ref(d.owner),
        "owner_name": d.owner.get_full_name() if d.owner else None,
        "person_id": person_ref(d.person),
        "person_name": d.person.name if d.person else None,
        "org_id": org_ref(d.organization),
        "org_name": d.organization.name if d.organization else None,
        "add_time": timestamp(d.created_at),
        "update_time": timestamp(d.updated_at),
    }


def person(p: Person) -> JSON:
    """Needs ``owner``, ``organization`` and ``emails`` loaded."""
    first, _, last = p.name.partition(" ")
    emails = _emails(p)
    return {
        "id": p.pk,
        "name": p.name,
        "first_name": first,
        "last_name": last,
        "active_flag": True,
        "email": emails,
        "primary_email": emails[0]["value"] if emails else None,
        "phone": _phones(p),
        "owner_id": user_ref(p.owner),
        "owner_name": p.owner.get_full_name() if p.owner else None,
        "org_id": org_ref(p.organization),
        "org_name": p.organization.name if p.organization else None,
        "add_time": timestamp(p.created_at),
        "update_time": timestamp(p.updated_at),
    }


def organization(o: Organization) -> JSON:
    """Needs ``owner`` loaded and ``people_count`` annotated."""
    return {
        "id": o.pk,
        "name": o.name,
        "address": o.address or None,
        "active_flag": True,
        "people_count": getattr(o, "people_count", 0),
        "owner_id": user_ref(o.owner),
        "owner_name": o.owner.get_full_name() if o.owner else None,
        "add_time": timestamp(o.created_at),
        "update_time": timestamp(o.updated_at),
    }


# Every record here is visible to the whole company: Pipedrive's "entire company" level.
VISIBLE_TO_COMPANY = 3
# Where a record came from, in Pipedrive's words; leads are made in the app.
LEAD_SOURCE_NAME = "Manually created"
LEAD_ORIGIN = "ManuallyCreated"


def lead(ld: Lead) -> JSON:
    """Every field of the v1 client's Lead type: present, with a value or null."""
    return {
        "id": str(ld.pk),
        "title": ld.title,
        "owner_id": ld.owner_id,
        "creator_id": ld.owner_id,
        "label_ids": [],
        "person_id": ld.person_id,
        "organization_id": ld.organization_id,
        "source_name": LEAD_SOURCE_NAME,
        "origin": LEAD_ORIGIN,
        "origin_id": None,
        "channel": None,
        "channel_id": None,
        "source_deal_id": None,
        "is_archived": ld.is_archived,
        "was_seen": True,
        "value": {"amount": number(ld.value), "currency": ld.currency} if ld.value is not None else None,
        "expected_close_date": None,
        "next_activity_id": None,
        "add_time": rfc3339(ld.created_at),
        "update_time": rfc3339(ld.updated_at),
        "visible_to": str(VISIBLE_TO_COMPANY),  # a string in v1 leads, as Pipedrive sends it
        "cc_email": None,  # no Smart BCC address here
    }


# --- API v2 ----------------------------------------------------------------------------
# Flat ids instead of v1's nested user/person/org objects, booleans instead of 0/1, RFC 3339
# timestamps: the shapes of the official clients' v2 Deal, Person and OrganizationItem.


def deal_v2(d: Deal) -> JSON:
    """Needs nothing loaded: every reference is an id."""
    return {
        "id": d.pk,
        "title": d.title,
        "owner_id": d.owner_id,
        "person_id": d.person_id,
        "org_id": d.organization_id,
        "pipeline_id": None,  # no pipelines or stages here
        "stage_id": None,
        "value": number(d.value),
        "currency": d.currency,
        "add_time": rfc3339(d.created_at),
        "update_time": rfc3339(d.updated_at),
        "stage_change_time": None,
        "is_deleted": False,
        "is_archived": False,
        "status": d.status,
        "probability": None,
        "lost_reason": None,
        "visible_to": VISIBLE_TO_COMPANY,
        "close_time": None,
        "won_time": None,
        "lost_time": None,
        "expected_close_date": None,
        "label_ids": [],
        "origin": None,  # not recorded for deals here
        "origin_id": None,
        "channel": None,
        "channel_id": None,
        "source_lead_id": None,
        "arr": None,
        "mrr": None,
        "acv": None,
        "custom_fields": {},
    }


def person_v2(p: Person) -> JSON:
    """Needs ``emails`` loaded."""
    first, _, last = p.name.partition(" ")
    return {
        "id": p.pk,
        "name": p.name,
        "first_name": first,
        "last_name": last,
        "owner_id": p.owner_id,
        "org_id": p.organization_id,
        "add_time": rfc3339(p.created_at),
        "update_time": rfc3339(p.updated_at),
        "emails": _emails(p),
        "phones": _phones(p),
        "is_deleted": False,
        "visible_to": VISIBLE_TO_COMPANY,
        "label_ids": [],
        "picture_id": None,
        "postal_address": None,  # no postal addresses for persons here
        "custom_fields": {},
    }


def organization_v2(o: Organization) -> JSON:
    return {
        "id": o.pk,
        "name": o.name,
        "owner_id": o.owner_id,
        "add_time": rfc3339(o.created_at),
        "update_time": rfc3339(o.updated_at),
        "is_deleted": False,
        "visible_to": VISIBLE_TO_COMPANY,
        "address": {"value": o.address} if o.address else None,
        "label_ids": [],
        "website": None,
        "linkedin": None,
        "industry": None,
        "annual_revenue": None,
        "employee_count": None,
        "custom_fields": {},
    }
