"""The API's permission-checked reads, built on inbox.selectors and crm company scoping.

The mailbox reads start from ``actionable_conversations`` (the user's own mailboxes, as
the Inbox folders show) or ``visible_conversations`` (plus conversations shared in the
company, as the conversation view and History show); never from a bare Conversation
manager. Every list costs a fixed number of queries, whatever its length.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import User
from crm.models import Deal, Lead, Organization, Person
from crm.selectors import company_records
from inbox.errors import InvalidRequest, NotFound
from inbox.folders import folder_filter
from inbox.models import Conversation, Draft, Message, Participant
from inbox.selectors import accessible_accounts, actionable_conversations, crm_object, visible_conversations

# Pipedrive's folder names. "drafts": the user's own conversations they have a draft in
# (a draft of a brand-new message has no thread yet and is not listed).
FOLDERS = ("inbox", "drafts", "sent", "archive")
_ORDER = ("-last_message_at", "-id")


def _folder_q(user: User, folder: str) -> Q:
    if folder == "drafts":
        return Q(
            pk__in=Draft.objects.filter(author_id=user.pk, conversation__isnull=False).values(
                "conversation_id"
            )
        )
    return folder_filter(folder)


def _with_drafts(user: User, qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """``user_drafts``: how many drafts the user has in each thread (has_draft_flag)."""
    return qs.annotate(user_drafts=Count("drafts", filter=Q(drafts__author_id=user.pk), distinct=True))


def _participants() -> Prefetch:
    return Prefetch("participants", queryset=Participant.objects.select_related("person").order_by("id"))


def _with_thread_relations(qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    return qs.select_related("account", "deal", "lead").prefetch_related(_participants())


def thread_page(user: User, folder: str, *, start: int, limit: int) -> tuple[list[Conversation], bool]:
    """One page of a folder, newest first: (threads, more after this page).

    Like inbox.selectors.folder_page, each mailbox's slice comes from its own
    (account, state, time, id) index and the slices are merged with UNION ALL; the
    offset is applied to the merge. Four queries: mailbox ids, merged keys, rows, parties.
    """
    if folder not in FOLDERS:
        raise InvalidRequest(f"Unknown folder {folder!r}.")
    account_ids = list(accessible_accounts(user).order_by("id").values_list("id", flat=True))
    if not account_ids:
        return [], False
    base = actionable_conversations(user).filter(_folder_q(user, folder))
    end = start + limit + 1
    keys: QuerySet[Conversation, tuple[int, datetime]]
    if len(account_ids) == 1 or not connection.features.supports_slicing_ordering_in_compound:
        keys = base.filter(account_id__in=account_ids).order_by(*_ORDER).values_list("id", "last_message_at")
    else:
        slices = [
            base.filter(account_id=a).order_by(*_ORDER).values_list("id", "last_message_at")[:end]
            for a in account_ids
        ]
        keys = slices[0].union(*slices[1:], all=True).order_by(*_ORDER)
    ids = [pk for pk, _ in keys[start:end]]
    more = len(ids) > limit
    ids = ids[:limit]
    rows = _with_drafts(user, _with_thread_relations(actionable_conversations(user).filter(pk__in=ids)))
    by_id = {c.pk: c for c in rows}
    return [by_id[i] for i in ids if i in by_id], more


def get_thread(user: User, thread_id: int) -> Conversation:
    conversation = (
        _with_drafts(user, _with_thread_relations(visible_conversations(user))).filter(pk=thread_id).first()
    )
    if conversation is None:
        raise NotFound("Mail thread not found.")
    return conversation


def is_actionable(user: User, thread_id: int) -> bool:
    return actionable_conversations(user).filter(pk=thread_id).exists()


def thread_messages(user: User, thread_id: int) -> tuple[Conversation, list[Message]]:
    conversation = get_thread(user, thread_id)
    messages = list(
        Message.objects.filter(conversation_id=conversation.pk)
        .select_related("outgoing")
        .order_by("sent_at", "id")
    )
    return conversation, messages


def get_message(user: User, message_id: int) -> Message:
    msg = (
        Message.objects.filter(pk=message_id, conversation_id__in=visible_conversations(user).values("id"))
        .select_related("conversation__account", "outgoing")
        .prefetch_related(Prefetch("conversation__participants", queryset=_participants().queryset))
        .first()
    )
    if msg is None:
        raise NotFound("Mail message not found.")
    return msg


def record_messages(
    user: User, kind: str, record_id: int, *, start: int, limit: int
) -> tuple[list[Message], bool]:
    """Emails linked to a deal or person, newest first — archived ones included, as in History."""
    crm_object(user, kind, record_id)  # another company's record: 404
    link = {"deal": Q(deal_id=record_id), "person": Q(participants__person_id=record_id)}[kind]
    conversations = visible_conversations(user).filter(link).values("id")
    rows = list(
        Message.objects.filter(conversation_id__in=conversations)
        .select_related("conversation__account", "outgoing")
        .prefetch_related(Prefetch("conversation__participants", queryset=_participants().queryset))
        .order_by("-sent_at", "-id")[start : start + limit + 1]
    )
    return rows[:limit], len(rows) > limit


# --- CRM -------------------------------------------------------------------------------


def _page(qs: QuerySet, start: int, limit: int) -> tuple[list, bool]:  # type: ignore[type-arg]
    rows = list(qs[start : start + limit + 1])
    return rows[:limit], len(rows) > limit


def deals(user: User) -> QuerySet[Deal]:
    return (
        company_records(user, "deal")
        .select_related("owner", "person", "organization")
        .prefetch_related("person__emails")
        .order_by("id")
    )


DEAL_STATUSES = ("open", "won", "lost", "deleted", "all_not_deleted")


def deal_page(user: User, status: str, *, start: int, limit: int) -> tuple[list[Deal], bool]:
    qs = deals(user)
    if status == "deleted":
        return [], False  # deleting a deal is not something this app does
    if status != "all_not_deleted":
        qs = qs.filter(status=status)
    return _page(qs, start, limit)


def persons(user: User) -> QuerySet[Person]:
    return (
        company_records(user, "person")
        .select_related("owner", "organization")
        .prefetch_related("emails")
        .order_by("id")
    )


def organizations(user: User) -> QuerySet[Organization]:
    return (
        company_records(user, "organization")
        .select_related("owner")
        .annotate(people_count=Count("persons"))
        .order_by("id")
    )


LEAD_ARCHIVED_STATUSES = ("archived", "not_archived", "all")


def leads(user: User) -> QuerySet[Lead]:
    return company_records(user, "lead").order_by("id")


def lead_page(user: User, archived_status: str, *, start: int, limit: int) -> tuple[list[Lead], bool]:
    qs = leads(user)
    if archived_status != "all":
        qs = qs.filter(is_archived=archived_status == "archived")
    return _page(qs, start, limit)


def page(qs: QuerySet, *, start: int, limit: int) -> tuple[list, bool]:  # type: ignore[type-arg]
    return _page(qs, start, limit)


def one(qs: QuerySet, record_id: int, what: str):  # type: ignore[no-untyped-def,type-arg]
    row = qs.filter(pk=record_id).first()
    if row is None:
        raise NotFound(f"{what} not found.")
    return row


# --- API v2 ----------------------------------------------------------------------------
# v2 shapes carry ids, not nested objects: a deal or organization page is one query, a
# person page two (the addresses).


def deals_v2(user: User) -> QuerySet[Deal]:
    return company_records(user, "deal")


def persons_v2(user: User) -> QuerySet[Person]:
    return company_records(user, "person").prefetch_related("emails")


def organizations_v2(user: User) -> QuerySet[Organization]:
    return company_records(user, "organization")
