"""Turning a parsed message from a provider into app state.

Threading: Message-ID / In-Reply-To / References first; failing those, the normalized
subject with a shared participant within a time window. Tombstoned messages are skipped,
a re-seen message changes nothing but may add a provider reference, and a genuinely new
incoming message brings an archived conversation back to the Inbox (decision 3).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import PersonEmail
from inbox.lookups import any_of, any_text, text_array, values_in
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
from inbox.types import Address, IngestOutcome, IngestResult, ParsedMessage, PreparedMessage, RefData

SUBJECT_THREAD_WINDOW = timedelta(days=30)
_PREFIX = re.compile(r"^\s*((re|fw|fwd|sv|vs|aw|wg|tr|rv|antw|odp)(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def normalize_subject(subject: str) -> str:
    # Cached: a batch asks about each message's subject several times, and a thread's
    # replies share theirs.
    return _SPACE.sub(" ", _PREFIX.sub("", subject or "")).strip().lower()[:998]


SNIPPET_CHARS = 200


def snippet_of(text: str) -> str:
    """The first 200 characters of the text, whitespace runs as one space.

    Only a prefix is collapsed (a message's text can be 1 MB, and this runs for every
    imported message): collapsing a prefix gives a prefix of the whole text collapsed, so
    once the prefix holds 200 characters after stripping, they are the snippet. A prefix
    of (almost) nothing but whitespace doubles until it does, or until it is the whole.

    ``" ".join(s.split())`` is ``_SPACE.sub(" ", s).strip()``, six times faster: ``str.split``,
    ``str.strip`` and the regex's ``\\s`` all take the same 29 characters for whitespace
    (``str.isspace``; tests/test_snippet.py checks every code point)."""
    text = text or ""
    size = 4 * SNIPPET_CHARS
    while size < len(text):
        head = " ".join(text[:size].split())
        if len(head) >= SNIPPET_CHARS:
            return head[:SNIPPET_CHARS]
        size *= 4
    return " ".join(text.split())[:SNIPPET_CHARS]


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


def prepare(parsed: ParsedMessage) -> PreparedMessage:
    """The bulk ingest's per-message work on ``parsed`` alone (no database, no account):
    done by the parse workers (``sync.parse_pool.parse_one``) so the store thread — a first
    sync's critical path — only threads and writes."""
    return PreparedMessage(
        row=(
            parsed.message_id[:998],
            parsed.in_reply_to[:998],
            _json(parsed.references[:100]),
            parsed.subject[:998],
            (parsed.sender.email if parsed.sender else "")[:320],
            (parsed.sender.name if parsed.sender else "")[:300],
            _json([{"email": a.email, "name": a.name} for a in parsed.to]),
            _json([{"email": a.email, "name": a.name} for a in parsed.cc]),
            parsed.date,
            parsed.text,
            parsed.html,
            _json(parsed.attachments),
            _json(parsed.problems),
        ),
        addresses=tuple((a.email.lower(), a) for a in _addresses(parsed)),
        snippet=snippet_of(parsed.text),
        normalized_subject=normalize_subject(parsed.subject),
    )


def _prepared(parsed: ParsedMessage) -> PreparedMessage:
    """``parsed.prepared``, or computed here when the parse did not (a message built or
    changed after its parse)."""
    return parsed.prepared if parsed.prepared is not None else prepare(parsed)


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
        # Another reply to the same message we do not have (outside the synced range, or not
        # read yet: a newest-first sync reads replies before what they answer): one thread.
        sibling = (
            Message.objects.filter(account_id=account.pk, in_reply_to__in=related_ids)
            .order_by("pk")
            .values_list("conversation_id", flat=True)
            .first()
        )
        if sibling is not None:
            return Conversation.objects.select_for_update().get(pk=sibling)
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
    message = _new_message(account, parsed)
    message.conversation = conversation
    message.save()
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
    rows = attachment_rows(account, message, listed)
    if rows:
        Attachment.objects.bulk_create(rows)


def attachment_rows(
    account: MailAccount, message: Message, listed: list[dict[str, object]]
) -> list[Attachment]:
    """The unsaved ``Attachment`` rows of a stored message's listed parts."""
    return [
        Attachment(
            message=message,
            account=account,
            position=position,
            filename=filename,
            content_type=content_type,
            size=size,
            inline=inline,
            content_id=content_id,
            part=part,
            transfer_encoding=transfer_encoding,
            provider_id=provider_id,
        )
        for (
            position,
            filename,
            content_type,
            size,
            inline,
            content_id,
            part,
            transfer_encoding,
            provider_id,
        ) in attachment_values(listed)
    ]


def attachment_values(
    listed: list[dict[str, object]],
) -> list[tuple[int, str, str, int, bool, str, str, str, str]]:
    """Each listed part's (position, filename, content type, size, inline, Content-ID, part,
    transfer encoding, provider id), as ``Attachment`` stores them."""
    rows = []
    for position, item in enumerate(listed):
        if not item.get("content_type") and not item.get("size") and not item.get("part"):
            continue  # the "(more not listed)" marker of a message with too many parts
        rows.append(
            (
                position,
                str(item.get("filename") or "")[:1000],
                str(item.get("content_type") or "")[:255],
                int(item.get("size") or 0),  # type: ignore[call-overload]
                bool(item.get("inline")),
                str(item.get("content_id") or "")[:998],
                str(item.get("part") or "")[:100],
                str(item.get("transfer_encoding") or "")[:40],
                str(item.get("provider_id") or "")[:2000],
            )
        )
    return rows


# --- a fetched batch at once ---------------------------------------------------------------------
# ``ingest_messages`` gives every message of a batch the outcome ``ingest_message`` would have
# given it, called once per message in the same order — in about ten statements per batch
# instead of five to ten per message. It reads everything the one-by-one path could look at
# (references, tombstones, Message-IDs, replies, subject candidates, participants) with one
# query each, replays the one-by-one decisions against that in-memory index (which also holds
# what the batch itself created), then writes with bulk statements.

_UPDATED_FIELDS = [
    "message_count",
    "last_message_at",
    "first_message_at",
    "snippet",
    "has_attachments",
    "has_incoming",
    "has_outgoing",
    "is_read",
    "state",
    "archived_at",
    "updated_at",
]


# A conversation's _UPDATED_FIELDS values, in order, in one call (a first sync creates
# thousands of conversations; a getattr per field per row showed in the store's profile).
_updated_values = attrgetter(*_UPDATED_FIELDS)

_AFTER_EVERY_PK = 1 << 62


@dataclass(slots=True)
class _Conv:
    """The fields of a conversation that ingest reads and changes (no model instance: a first
    sync creates thousands per minute, and Django's model and bulk-insert machinery was a
    large part of its CPU)."""

    pk: int | None
    subject: str
    normalized_subject: str
    first_message_at: datetime
    last_message_at: datetime
    message_count: int = 0
    snippet: str = ""
    has_incoming: bool = False
    has_outgoing: bool = False
    has_attachments: bool = False
    is_read: bool = False
    state: str = ConversationState.INBOX.value
    archived_at: datetime | None = None
    updated_at: datetime | None = None


# _Conv's fields in order: what is read of a conversation the batch threads onto.
_CONV_COLUMNS = [
    "pk",
    "subject",
    "normalized_subject",
    "first_message_at",
    "last_message_at",
    "message_count",
    "snippet",
    "has_incoming",
    "has_outgoing",
    "has_attachments",
    "is_read",
    "state",
    "archived_at",
    "updated_at",
]


@dataclass
class _Thread:
    """One conversation as the one-by-one path would see it at this point of the batch."""

    conversation: _Conv
    is_new: bool
    participants: set[str]
    changed: bool = False


@dataclass(slots=True)
class _NewMessage:
    """A message the batch creates: its row, and its pk once allocated."""

    parsed: ParsedMessage
    prepared: PreparedMessage
    thread: _Thread
    pk: int = 0


@dataclass
class _Known:
    """A message the batch may thread onto: in the database, or created earlier in the batch
    (then ``message`` is the new row; its pk is allocated before the writes)."""

    sent_at: datetime
    conversation: int | _Thread
    message: int | _NewMessage
    order: int  # the pk, or after every pk for the batch's own (allocated in batch order)


# The batch's reads by provider key, Message-ID and subject: one index probe per value, on
# the (account, value) indexes. As ``account = x AND value = ANY(...)``, the planner compared
# that with reading all of the account's rows through the account's own index and filtering
# them, and chose the latter whenever it thought the account small — always for a new
# mailbox's first sync, where the statistics have not seen its rows yet (``ANALYZE`` runs
# after the fact): each group then read every row stored before it, quadratic in the sync
# (0.24 s of PostgreSQL per 10,000 messages at 10,000, 0.62 s at 30,000). A probe per value
# costs the same at any size. ``OFFSET 0`` keeps PostgreSQL from turning the lateral
# subquery back into a join it could run as that scan. The account is a parameter the
# planner does not see (``(SELECT %s::bigint)``): for a mailbox its statistics do not know
# (a new one, beside mailboxes they do know) it estimated one row for the account, so any
# index starting with the account looked as good as the (account, value) one — it probed
# message_id through (account, in_reply_to) and subjects through conv_sent_idx, reading
# every row of the mailbox per value (10,000 messages: 10 s instead of 6, PostgreSQL 7.5 s
# instead of 3). Unseen, the account counts as an average one, and the value decides.
_REFS_SQL = (
    "SELECT t.key, t.message_id, m.conversation_id FROM unnest(%s::text[]) AS v(value) "
    "CROSS JOIN LATERAL (SELECT r.key, r.message_id FROM inbox_providerref r "
    "WHERE r.account_id = (SELECT %s::bigint) AND r.key = v.value OFFSET 0) AS t "
    "JOIN inbox_message m ON m.id = t.message_id"
)
_MESSAGES_SQL = (
    "SELECT t.id, t.{column}, t.conversation_id, t.sent_at FROM unnest(%s::text[]) AS v(value) "
    "CROSS JOIN LATERAL (SELECT m.id, m.{column}, m.conversation_id, m.sent_at FROM inbox_message m "
    "WHERE m.account_id = (SELECT %s::bigint) AND m.{column} = v.value OFFSET 0) AS t"
)
# The shared-address test inside the probe: per candidate conversation, its participants by
# (conversation_id, address). Outside it, PostgreSQL hashed every participant row of the
# batch's addresses — a frequent correspondent's rows in every conversation of the mailbox,
# read again for each group (12 ms a group at 10,000 messages, ten times that at 100,000).
_CANDIDATES_SQL = (
    "SELECT DISTINCT t.id FROM unnest(%s::text[]) AS v(value) "
    "CROSS JOIN LATERAL (SELECT c.id FROM inbox_conversation c WHERE c.account_id = (SELECT %s::bigint) "
    "AND c.normalized_subject = v.value AND c.last_message_at >= %s AND c.first_message_at <= %s "
    "AND EXISTS (SELECT 1 FROM inbox_participant p WHERE p.conversation_id = c.id "
    "AND p.address = ANY(%s::text[])) OFFSET 0) AS t"
)


def _probe(sql: str, values: Iterable[str], *params: Any) -> list[tuple]:  # type: ignore[type-arg]
    """The rows of one of the probes above for ``values`` (its ``v.value``)."""
    wanted = sorted(set(values))
    if not wanted:
        return []
    with connection.cursor() as cursor:
        cursor.execute(sql, [text_array(wanted), *params])
        return cursor.fetchall()


def _pk(value: int | _NewMessage | _Thread) -> int:
    if isinstance(value, _Thread):
        return cast(int, value.conversation.pk)
    return value if isinstance(value, int) else value.pk


@transaction.atomic
def ingest_messages(
    account: MailAccount, items: Sequence[tuple[ParsedMessage, RefData]]
) -> list[IngestResult]:
    """``ingest_message`` for each item, in order, with bulk statements: the same outcomes and
    the same rows. Atomic: when a statement fails nothing of the batch is written, and the
    caller falls back to one-by-one ingest to find (and quarantine) the message that fails."""
    if not items:
        return []
    own = account.address.lower()
    keys = [ref.key for _, ref in items]
    mids = {p.message_id for p, _ in items if p.message_id}
    related = {mid for p, _ in items for mid in [p.in_reply_to, *p.references] if mid}
    prepared = [_prepared(p) for p, _ in items]
    addresses = {address for pr in prepared for address, _ in pr.addresses}
    others = addresses - {own}
    subjects = {pr.normalized_subject for pr in prepared} - {""}

    # 1. What the database holds about the batch, one query each.
    postgresql = connection.vendor == "postgresql"
    known_refs: dict[str, tuple[int | _NewMessage, int | _Thread]] = {
        key: (message_pk, conversation_pk)
        for key, message_pk, conversation_pk in (
            _probe(_REFS_SQL, keys, account.pk)
            if postgresql
            else values_in(
                ProviderRef.objects.filter(account_id=account.pk),
                "key",
                keys,
                "key",
                "message_id",
                "message__conversation_id",
            )
        )
    }
    tomb_keys: set[str] = set()
    tomb_mids: set[str] = set()
    for key, mid in (
        Tombstone.objects.filter(account_id=account.pk)
        .filter(Q(any_text("provider_key", keys)) | Q(any_text("message_id", mids)))
        .values_list("provider_key", "message_id")
    ):
        tomb_keys.add(key)
        tomb_mids.add(mid)
    by_mid: dict[str, list[_Known]] = defaultdict(list)
    by_reply_to: dict[str, list[_Known]] = defaultdict(list)
    wanted: set[int] = set()
    messages = Message.objects.filter(account_id=account.pk).order_by("pk")
    for pk, mid, conversation_pk, sent_at in (
        _probe(_MESSAGES_SQL.format(column="message_id"), mids | related, account.pk)
        if postgresql
        else values_in(
            messages, "message_id", mids | related, "pk", "message_id", "conversation_id", "sent_at"
        )
    ):
        by_mid[mid].append(_Known(sent_at, conversation_pk, pk, pk))
        wanted.add(conversation_pk)
    for pk, in_reply_to, conversation_pk, sent_at in (
        _probe(_MESSAGES_SQL.format(column="in_reply_to"), mids | related, account.pk)
        if postgresql
        else values_in(
            messages, "in_reply_to", mids | related, "pk", "in_reply_to", "conversation_id", "sent_at"
        )
    ):
        by_reply_to[in_reply_to].append(_Known(sent_at, conversation_pk, pk, pk))
        wanted.add(conversation_pk)
    for index in (by_mid, by_reply_to):
        for rows in index.values():
            rows.sort(key=lambda known: known.order)  # 1,000 per IN: pk order within each only
    if subjects and others:
        # Every conversation the subject rule could pick for any message of the batch (a
        # superset: the exact window and shared address are checked per message below).
        dates = [p.date for p, _ in items]
        low, high = min(dates) - SUBJECT_THREAD_WINDOW, max(dates) + SUBJECT_THREAD_WINDOW
        if postgresql:
            found = _probe(_CANDIDATES_SQL, subjects, account.pk, low, high, text_array(sorted(others)))
        else:
            candidates = Conversation.objects.filter(
                account_id=account.pk, last_message_at__gte=low, first_message_at__lte=high
            ).filter(any_text("participants__address", others))
            found = values_in(candidates, "normalized_subject", subjects, "pk")
        wanted |= {pk for (pk,) in found}
    threads: dict[int, _Thread] = {}
    if wanted:
        # Locked like the one-by-one path locks the conversation it threads onto.
        locked = Conversation.objects.select_for_update().filter(any_of("pk", wanted))
        for row in locked.values_list(*_CONV_COLUMNS):
            conversation = _Conv(*row)
            threads[conversation.pk] = _Thread(conversation, is_new=False, participants=set())  # type: ignore[index]
        for conversation_pk, address in Participant.objects.filter(
            any_of("conversation_id", threads), any_text("address", addresses)
        ).values_list("conversation_id", "address"):
            threads[conversation_pk].participants.add(address)
    by_subject: dict[str, list[_Thread]] = defaultdict(list)
    for existing in threads.values():
        by_subject[existing.conversation.normalized_subject].append(existing)
    people = dict(
        PersonEmail.objects.filter(company_id=account.company_id)
        .filter(any_text("email", addresses))
        .values_list("email", "person_id")
    )

    def thread_of(value: int | _Thread) -> _Thread:
        return value if isinstance(value, _Thread) else threads[value]

    # 2. The one-by-one decisions, in order, against that index.
    now = timezone.now()
    planned: list[tuple[str, object, object]] = []  # (outcome, conversation, message) per item
    new_messages: list[_NewMessage] = []
    new_refs: list[tuple[RefData, int | _NewMessage]] = []
    # (thread, address, name, person, is_sender)
    new_participants: list[tuple[_Thread, str, str, int | None, bool]] = []
    new_threads: list[_Thread] = []
    for (parsed, ref), pr in zip(items, prepared, strict=True):
        if ref.key in known_refs:
            known_message, known_conversation = known_refs[ref.key]
            planned.append((IngestOutcome.DUPLICATE, known_conversation, known_message))
            continue
        if ref.key in tomb_keys or (parsed.message_id and parsed.message_id in tomb_mids):
            planned.append((IngestOutcome.TOMBSTONED, None, None))
            continue
        if parsed.message_id and by_mid.get(parsed.message_id):
            same = by_mid[parsed.message_id][0]  # .first(): the lowest pk
            new_refs.append((ref, same.message))
            known_refs[ref.key] = (same.message, same.conversation)
            planned.append((IngestOutcome.DUPLICATE, same.conversation, same.message))
            continue
        thread = _thread_for(parsed, pr, own, by_mid, by_reply_to, by_subject, thread_of)
        incoming = parsed.incoming
        if thread is None:
            conversation = _Conv(
                None,
                subject=parsed.subject[:998],
                normalized_subject=pr.normalized_subject,
                first_message_at=parsed.date,
                last_message_at=parsed.date,
                is_read=parsed.is_read or not incoming,
                updated_at=now,
            )
            thread = _Thread(conversation, is_new=True, participants=set())
            new_threads.append(thread)
            by_subject[conversation.normalized_subject].append(thread)
        message = _NewMessage(parsed, pr, thread)
        new_messages.append(message)
        new_refs.append((ref, message))
        known = _Known(parsed.date, thread, message, _AFTER_EVERY_PK + len(new_messages))
        message_id, in_reply_to = parsed.message_id[:998], parsed.in_reply_to[:998]
        if message_id:
            by_mid[message_id].append(known)
        if in_reply_to:
            by_reply_to[in_reply_to].append(known)
        known_refs[ref.key] = (message, thread)
        sender = parsed.sender.email.lower() if parsed.sender else ""
        for address, a in pr.addresses:
            if address not in thread.participants:
                thread.participants.add(address)
                new_participants.append(
                    (thread, address, a.name[:300], people.get(address), address == sender)
                )
        direction = Direction.INCOMING if incoming else Direction.OUTGOING
        unarchived = _count_in(thread, parsed, direction, now, pr.snippet)
        planned.append((IngestOutcome.CREATED, thread, (message, unarchived)))

    # 3. The writes: ids first (rows refer to each other), then COPY for what is new.
    _write_batch(account, now, new_threads, [t for t in threads.values() if t.changed], new_messages)
    _write_refs(account, now, new_refs)
    _write_participants(new_participants)

    results: list[IngestResult] = []
    for outcome, planned_conversation, planned_message in planned:
        if outcome == IngestOutcome.TOMBSTONED:
            results.append(IngestResult(IngestOutcome.TOMBSTONED))
            continue
        conversation_pk = _pk(cast(int | _Thread, planned_conversation))
        if outcome == IngestOutcome.DUPLICATE:
            message_pk = _pk(cast(int | _NewMessage, planned_message))
            results.append(IngestResult(IngestOutcome.DUPLICATE, conversation_pk, message_pk))
        else:
            created, unarchived = cast(tuple[_NewMessage, bool], planned_message)
            results.append(IngestResult(IngestOutcome.CREATED, conversation_pk, created.pk, unarchived))
    return results


# --- the batch's writes ------------------------------------------------------------------------------
# COPY, not INSERT: Django's bulk_create turned every value into an SQL literal in Python
# (psycopg's client-side binding, which Django uses) and built a model instance per row; COPY
# sends the rows as they are. Rows that refer to each other get their ids first, from the
# tables' own sequences. A row PostgreSQL refuses fails the COPY, and with it the batch (its
# savepoint), like a refused INSERT did: the caller goes one by one then.


def _allocate_ids(cursor, table: str, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    """``count`` new ids of ``table`` from its id sequence, ascending (rows inserted in the
    batch's order keep the pk order a one-by-one ingest would have given them)."""
    if not count:
        return []
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
    )
    return sorted(pk for (pk,) in cursor.fetchall())


def _copy(cursor, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:  # type: ignore[no-untyped-def]
    names = ", ".join(f'"{column}"' for column in columns)
    with connection.wrap_database_errors, cursor.cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def _json(value: object) -> str:
    if isinstance(value, list) and not value:
        return "[]"  # most references, Cc and problem lists of a batch: no encoder call
    return json.dumps(value)


def _write_batch(
    account: MailAccount,
    now: datetime,
    new_threads: list[_Thread],
    changed: list[_Thread],
    new_messages: list[_NewMessage],
) -> None:
    account_pk, company_pk = account.pk, account.company_id  # read once, not per row
    with connection.cursor() as cursor:
        for thread, pk in zip(
            new_threads, _allocate_ids(cursor, Conversation._meta.db_table, len(new_threads)), strict=True
        ):
            thread.conversation.pk = pk
        for message, pk in zip(
            new_messages, _allocate_ids(cursor, Message._meta.db_table, len(new_messages)), strict=True
        ):
            message.pk = pk
        if new_threads:
            _copy(
                cursor,
                Conversation._meta.db_table,
                [
                    "id",
                    "company_id",
                    "account_id",
                    "shared",
                    "created_at",
                    "subject",
                    "normalized_subject",
                    *_UPDATED_FIELDS,
                ],
                (
                    (
                        c.pk,
                        company_pk,
                        account_pk,
                        False,
                        now,
                        c.subject,
                        c.normalized_subject,
                        *_updated_values(c),
                    )
                    for c in (thread.conversation for thread in new_threads)
                ),
            )
        if changed:
            _update_conversations(cursor, [thread.conversation for thread in changed])
        if new_messages:
            _copy(
                cursor,
                Message._meta.db_table,
                [
                    "id",
                    "conversation_id",
                    "account_id",
                    "message_id",
                    "in_reply_to",
                    "references",
                    "subject",
                    "from_address",
                    "from_name",
                    "to",
                    "cc",
                    "sent_at",
                    "text",
                    "html",
                    "attachments",
                    "direction",
                    "parse_problems",
                    "created_at",
                ],
                (_message_row(account_pk, m, now) for m in new_messages),
            )
            files = [(m.pk, row) for m in new_messages for row in attachment_values(m.parsed.attachments)]
            if files:
                _copy(
                    cursor,
                    Attachment._meta.db_table,
                    [
                        "message_id",
                        "account_id",
                        "position",
                        "filename",
                        "content_type",
                        "size",
                        "inline",
                        "content_id",
                        "part",
                        "transfer_encoding",
                        "provider_id",
                        "file",
                    ],
                    ((pk, account_pk, *row, "") for pk, row in files),
                )


def _message_row(account_pk: int, message: _NewMessage, now: datetime) -> tuple[object, ...]:
    """The row ``_new_message`` would save, in the COPY's column order."""
    *values, problems = message.prepared.row
    return (
        message.pk,
        message.thread.conversation.pk,
        account_pk,
        *values,
        (Direction.INCOMING if message.parsed.incoming else Direction.OUTGOING).value,
        problems,
        now,
    )


def _update_conversations(cursor, conversations: list[_Conv]) -> None:  # type: ignore[no-untyped-def]
    """The conversations the batch added messages to, in one UPDATE ... FROM unnest(...)."""
    table = Conversation._meta.db_table
    types = {
        "message_count": "integer",
        "last_message_at": "timestamptz",
        "first_message_at": "timestamptz",
        "snippet": "text",
        "has_attachments": "boolean",
        "has_incoming": "boolean",
        "has_outgoing": "boolean",
        "is_read": "boolean",
        "state": "text",
        "archived_at": "timestamptz",
        "updated_at": "timestamptz",
    }
    assignments = ", ".join(f'"{name}" = v."{name}"' for name in _UPDATED_FIELDS)
    arrays = ", ".join(f"%s::{types[name]}[]" for name in _UPDATED_FIELDS)
    names = ", ".join(f'"{name}"' for name in _UPDATED_FIELDS)
    sql = (
        f'UPDATE "{table}" AS c SET {assignments} '  # noqa: S608 (our own column names, params bound)
        f"FROM unnest(%s::bigint[], {arrays}) AS v(id, {names}) WHERE c.id = v.id"
    )
    cursor.execute(
        sql,
        [
            [c.pk for c in conversations],
            *([getattr(c, name) for c in conversations] for name in _UPDATED_FIELDS),
        ],
    )


def _write_refs(
    account: MailAccount, now: datetime, new_refs: list[tuple[RefData, int | _NewMessage]]
) -> None:
    if not new_refs:
        return
    account_pk = account.pk
    with connection.cursor() as cursor:
        _copy(
            cursor,
            ProviderRef._meta.db_table,
            ["account_id", "key", "message_id", "folder", "uidvalidity", "uid", "thread_id", "seen_at"],
            (
                (account_pk, ref.key, _pk(message), ref.folder, ref.uidvalidity, ref.uid, ref.thread_id, now)
                for ref, message in new_refs
            ),
        )


def _write_participants(rows: list[tuple[_Thread, str, str, int | None, bool]]) -> None:
    """New conversations' participants by COPY (their ids are new: nothing to conflict
    with); existing ones' with ON CONFLICT DO NOTHING, as before (another writer may have
    added the same address meanwhile)."""
    fresh = [row for row in rows if row[0].is_new]
    if fresh:
        with connection.cursor() as cursor:
            _copy(
                cursor,
                Participant._meta.db_table,
                ["conversation_id", "address", "name", "person_id", "is_sender"],
                ((thread.conversation.pk, *rest) for thread, *rest in fresh),
            )
    known = [row for row in rows if not row[0].is_new]
    if known:
        Participant.objects.bulk_create(
            [
                Participant(
                    conversation_id=_pk(thread),
                    address=address,
                    name=name,
                    person_id=person,
                    is_sender=is_sender,
                )
                for thread, address, name, person, is_sender in known
            ],
            ignore_conflicts=True,
        )


def _thread_for(
    parsed: ParsedMessage,
    prepared: PreparedMessage,
    own: str,
    by_mid: dict[str, list[_Known]],
    by_reply_to: dict[str, list[_Known]],
    by_subject: dict[str, list[_Thread]],
    thread_of: Callable[[int | _Thread], _Thread],
) -> _Thread | None:
    """``_find_conversation`` against the batch's index."""
    related_ids = [mid for mid in [parsed.in_reply_to, *parsed.references] if mid]
    hits = [known for mid in related_ids for known in by_mid.get(mid, ())]
    if hits:
        return thread_of(max(hits, key=lambda known: known.sent_at).conversation)  # -sent_at, first
    siblings = [known for mid in related_ids for known in by_reply_to.get(mid, ())]
    if siblings:
        return thread_of(min(siblings, key=lambda known: known.order).conversation)
    if parsed.message_id and by_reply_to.get(parsed.message_id):
        return thread_of(by_reply_to[parsed.message_id][0].conversation)
    subject = prepared.normalized_subject
    if not subject:
        return None
    others = {address for address, _ in prepared.addresses} - {own}
    if not others:
        return None
    low, high = parsed.date - SUBJECT_THREAD_WINDOW, parsed.date + SUBJECT_THREAD_WINDOW
    matches = [
        thread
        for thread in by_subject.get(subject, ())
        if thread.conversation.last_message_at >= low
        and thread.conversation.first_message_at <= high
        and thread.participants & others
    ]
    return max(matches, key=lambda thread: thread.conversation.last_message_at) if matches else None


def _new_message(account: MailAccount, parsed: ParsedMessage) -> Message:
    return Message(
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
        direction=Direction.INCOMING if parsed.incoming else Direction.OUTGOING,
        parse_problems=parsed.problems,
    )


def _count_in(thread: _Thread, parsed: ParsedMessage, direction: str, now: datetime, snippet: str) -> bool:
    """The conversation update ``ingest_message`` makes for a new message; True when it
    brought an archived conversation back to the Inbox."""
    conversation = thread.conversation
    thread.changed = not thread.is_new
    unarchived = False
    first = conversation.message_count == 0
    if parsed.date >= conversation.last_message_at or first:
        conversation.last_message_at = parsed.date
        conversation.snippet = snippet
    if parsed.date < conversation.first_message_at:
        conversation.first_message_at = parsed.date
    if any(not a.get("inline") for a in parsed.attachments):
        # The paperclip is for files; an inline image (a signature's logo) is not one.
        conversation.has_attachments = True
    if direction == Direction.INCOMING:
        conversation.has_incoming = True
        if not parsed.is_read:
            conversation.is_read = False
        if conversation.state == ConversationState.ARCHIVED:
            conversation.state = ConversationState.INBOX.value
            conversation.archived_at = None
            unarchived = True
    else:
        conversation.has_outgoing = True
    conversation.message_count += 1
    conversation.updated_at = now
    return unarchived
