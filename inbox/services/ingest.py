"""Turning a parsed message from a provider into app state.

Threading: Message-ID / In-Reply-To / References first; failing those, the normalized
subject with a shared participant within a time window. Tombstoned messages are skipped,
a re-seen message changes nothing but may add a provider reference, and a genuinely new
incoming message brings an archived conversation back to the Inbox (decision 3).
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import PersonEmail
from inbox.models import (
    Attachment,
    Conversation,
    ConversationState,
    Direction,
    MailAccount,
    Message,
    Participant,
    ProviderRef,
    Tombstone,
)
from inbox.types import Address, IngestOutcome, IngestResult, ParsedMessage, RefData

SUBJECT_THREAD_WINDOW = timedelta(days=30)
_PREFIX = re.compile(r"^\s*((re|fw|fwd|sv|vs|aw|wg|tr|rv|antw|odp)(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def normalize_subject(subject: str) -> str:
    return _SPACE.sub(" ", _PREFIX.sub("", subject or "")).strip().lower()[:998]


def snippet_of(text: str) -> str:
    return _SPACE.sub(" ", text or "").strip()[:200]


def is_tombstoned(account_id: int, message_id: str, ref_key: str) -> bool:
    match = Q(provider_key=ref_key) if ref_key else Q(pk__in=[])
    if message_id:
        match |= Q(message_id=message_id)
    return Tombstone.objects.filter(account_id=account_id).filter(match).exists()


def _addresses(parsed: ParsedMessage) -> list[Address]:
    seen: dict[str, Address] = {}
    for address in [parsed.sender, *parsed.to, *parsed.cc]:
        if address and address.email and address.email.lower() not in seen:
            seen[address.email.lower()] = address
    return list(seen.values())


def _find_conversation(account: MailAccount, parsed: ParsedMessage) -> Conversation | None:
    related_ids = [mid for mid in [parsed.in_reply_to, *parsed.references] if mid]
    if related_ids:
        hit = (
            Message.objects.filter(account_id=account.pk, message_id__in=related_ids)
            .order_by("-sent_at")
            .values_list("conversation_id", flat=True)
            .first()
        )
        if hit is not None:
            return Conversation.objects.select_for_update().get(pk=hit)
    if parsed.message_id:
        # A reply that arrived before the message it answers: thread onto the reply.
        child = (
            Message.objects.filter(account_id=account.pk, in_reply_to=parsed.message_id)
            .values_list("conversation_id", flat=True)
            .first()
        )
        if child is not None:
            return Conversation.objects.select_for_update().get(pk=child)
    subject = normalize_subject(parsed.subject)
    if not subject:
        return None
    # Everyone's own address is on every thread: only another shared address counts.
    others = [a.email.lower() for a in _addresses(parsed) if a.email.lower() != account.address.lower()]
    if not others:
        return None
    return (
        Conversation.objects.select_for_update(of=("self",))
        .filter(
            account_id=account.pk,
            normalized_subject=subject,
            last_message_at__gte=parsed.date - SUBJECT_THREAD_WINDOW,
            first_message_at__lte=parsed.date + SUBJECT_THREAD_WINDOW,
            participants__address__in=others,
        )
        .order_by("-last_message_at")
        .first()
    )


def link_participants(conversation: Conversation, parsed: ParsedMessage) -> None:
    """Record the message's addresses on the conversation, linked to Persons by any address."""
    addresses = _addresses(parsed)
    if not addresses:
        return
    lowered = [a.email.lower() for a in addresses]
    people = dict(
        PersonEmail.objects.filter(company_id=conversation.company_id, email__in=lowered).values_list(
            "email", "person_id"
        )
    )
    existing = set(
        Participant.objects.filter(conversation=conversation, address__in=lowered).values_list(
            "address", flat=True
        )
    )
    sender = parsed.sender.email.lower() if parsed.sender else ""
    Participant.objects.bulk_create(
        [
            Participant(
                conversation=conversation,
                address=a.email.lower(),
                name=a.name[:300],
                person_id=people.get(a.email.lower()),
                is_sender=a.email.lower() == sender,
            )
            for a in addresses
            if a.email.lower() not in existing
        ],
        ignore_conflicts=True,
    )


def _add_ref(account: MailAccount, message_pk: int, ref: RefData) -> None:
    ProviderRef.objects.update_or_create(
        account=account,
        key=ref.key,
        defaults={
            "message_id": message_pk,
            "folder": ref.folder,
            "uidvalidity": ref.uidvalidity,
            "uid": ref.uid,
            "thread_id": ref.thread_id,
            "seen_at": timezone.now(),
        },
    )


@transaction.atomic
def ingest_message(account: MailAccount, parsed: ParsedMessage, ref: RefData) -> IngestResult:
    known_ref = (
        ProviderRef.objects.filter(account_id=account.pk, key=ref.key).select_related("message").first()
    )
    if known_ref is not None:
        return IngestResult(IngestOutcome.DUPLICATE, known_ref.message.conversation_id, known_ref.message_id)
    if is_tombstoned(account.pk, parsed.message_id, ref.key):
        return IngestResult(IngestOutcome.TOMBSTONED)
    if parsed.message_id:
        same = Message.objects.filter(account_id=account.pk, message_id=parsed.message_id).first()
        if same is not None:
            # The same message seen in another folder (Sent and Inbox, Archive after a
            # move, a new UIDVALIDITY): remember where it is, change nothing else.
            _add_ref(account, same.pk, ref)
            return IngestResult(IngestOutcome.DUPLICATE, same.conversation_id, same.pk)

    conversation = _find_conversation(account, parsed)
    direction = Direction.INCOMING if parsed.incoming else Direction.OUTGOING
    unarchived = False
    if conversation is None:
        conversation = Conversation.objects.create(
            company_id=account.company_id,
            account=account,
            subject=parsed.subject[:998],
            normalized_subject=normalize_subject(parsed.subject),
            first_message_at=parsed.date,
            last_message_at=parsed.date,
            is_read=parsed.is_read or not parsed.incoming,
        )
    message = Message.objects.create(
        conversation=conversation,
        account=account,
        message_id=parsed.message_id[:998],
        in_reply_to=parsed.in_reply_to[:998],
        references=parsed.references[:100],
        subject=parsed.subject[:998],
        from_address=(parsed.sender.email if parsed.sender else "")[:320],
        from_name=(parsed.sender.name if parsed.sender else "")[:300],
        to=[{"email": a.email, "name": a.name} for a in parsed.to],
        cc=[{"email": a.email, "name": a.name} for a in parsed.cc],
        sent_at=parsed.date,
        text=parsed.text,
        html=parsed.html,
        attachments=parsed.attachments,
        direction=direction,
        parse_problems=parsed.problems,
    )
    _add_ref(account, message.pk, ref)
    _add_attachments(account, message, parsed.attachments)
    link_participants(conversation, parsed)

    updates: dict[str, object] = {"message_count": conversation.message_count + 1}
    if parsed.date >= conversation.last_message_at or conversation.message_count == 0:
        updates["last_message_at"] = parsed.date
        updates["snippet"] = snippet_of(parsed.text)
    if parsed.date < conversation.first_message_at:
        updates["first_message_at"] = parsed.date
    if any(not a.get("inline") for a in parsed.attachments):
        # The paperclip is for files; an inline image (a signature's logo) is not one.
        updates["has_attachments"] = True
    if direction == Direction.INCOMING:
        updates["has_incoming"] = True
        if not parsed.is_read:
            updates["is_read"] = False
        if conversation.state == ConversationState.ARCHIVED:
            updates["state"] = ConversationState.INBOX
            updates["archived_at"] = None
            unarchived = True
    else:
        updates["has_outgoing"] = True
    if conversation.message_count == 0:
        updates["snippet"] = snippet_of(parsed.text)
    Conversation.objects.filter(pk=conversation.pk).update(**updates, updated_at=timezone.now())
    return IngestResult(IngestOutcome.CREATED, conversation.pk, message.pk, unarchived)


def _add_attachments(account: MailAccount, message: Message, listed: list[dict[str, object]]) -> None:
    """One ``Attachment`` row per listed part; the bytes are fetched when first opened."""
    rows = []
    for position, item in enumerate(listed):
        if not item.get("content_type") and not item.get("size") and not item.get("part"):
            continue  # the "(more not listed)" marker of a message with too many parts
        rows.append(
            Attachment(
                message=message,
                account=account,
                position=position,
                filename=str(item.get("filename") or "")[:1000],
                content_type=str(item.get("content_type") or "")[:255],
                size=int(item.get("size") or 0),  # type: ignore[call-overload]
                inline=bool(item.get("inline")),
                content_id=str(item.get("content_id") or "")[:998],
                part=str(item.get("part") or "")[:100],
                transfer_encoding=str(item.get("transfer_encoding") or "")[:40],
                provider_id=str(item.get("provider_id") or "")[:2000],
            )
        )
    if rows:
        Attachment.objects.bulk_create(rows)
