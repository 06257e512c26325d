"""All permission-checked reads of the user's mail.

A user sees the conversations of their own personal accounts and of the team accounts
they are a member of; conversations marked shared are also visible (read-only) to the
rest of their company. Anything else is ``NotFound`` — the same answer as "does not exist".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from accounts.models import User
from crm.models import Deal, Lead, Organization, Person, Project
from inbox.errors import InvalidRequest, NotFound
from inbox.models import (
    AuditEvent,
    Conversation,
    ConversationState,
    MailAccount,
    Message,
    Participant,
    UserSyncSettings,
)

Folder = Literal["inbox", "archive", "sent"]
FOLDERS: tuple[Folder, ...] = ("inbox", "sent", "archive")
PAGE_SIZE = 50


def accessible_accounts(user: User) -> QuerySet[MailAccount]:
    if not user.is_authenticated or user.company_id is None:
        return MailAccount.objects.none()
    member_of = MailAccount.members.through.objects.filter(user_id=user.pk).values("mailaccount_id")
    return MailAccount.objects.filter(company_id=user.company_id).filter(
        Q(kind="personal", owner_id=user.pk) | Q(kind="team", id__in=member_of)
    )


def actionable_conversations(user: User) -> QuerySet[Conversation]:
    """Conversations the user may archive, delete and link: those of their accounts."""
    return Conversation.objects.filter(account_id__in=accessible_accounts(user).values("id"))


def visible_conversations(user: User) -> QuerySet[Conversation]:
    if user.company_id is None:
        return Conversation.objects.none()
    return Conversation.objects.filter(
        Q(account_id__in=accessible_accounts(user).values("id")) | Q(shared=True, company_id=user.company_id)
    )


def get_account(user: User, account_id: int) -> MailAccount:
    account = accessible_accounts(user).select_related("company", "owner").filter(pk=account_id).first()
    if account is None:
        raise NotFound("No such mailbox.")
    return account


def sync_switches(account: MailAccount) -> tuple[bool, bool]:
    """(archive in provider, delete in provider) in force for an account."""
    owner_id = account.owner_id
    if account.is_team or owner_id is None:
        return account.archive_in_provider, account.delete_in_provider
    settings_row = UserSyncSettings.objects.filter(user_id=owner_id).first()
    if settings_row is None:
        return False, False
    return settings_row.archive_in_provider, settings_row.delete_in_provider


@dataclass(frozen=True)
class Cursor:
    last_message_at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.last_message_at.timestamp():.6f}_{self.id}"

    @classmethod
    def decode(cls, raw: str) -> Cursor:
        from datetime import UTC

        try:
            stamp, ident = raw.split("_", 1)
            return cls(datetime.fromtimestamp(float(stamp), tz=UTC), int(ident))
        except (ValueError, OverflowError) as exc:
            raise InvalidRequest("Bad page cursor.") from exc


@dataclass(frozen=True)
class FolderPage:
    conversations: list[Conversation]
    next_cursor: str | None


def _folder_filter(folder: Folder) -> Q:
    if folder == "inbox":
        return Q(state=ConversationState.INBOX, has_incoming=True)
    if folder == "archive":
        return Q(state=ConversationState.ARCHIVED)
    if folder == "sent":
        return Q(has_outgoing=True)
    raise InvalidRequest(f"Unknown folder {folder!r}.")


def folder_page(
    user: User,
    folder: Folder,
    *,
    account_id: int | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
    search: str = "",
) -> FolderPage:
    """One page of a folder, newest first, by keyset on (last_message_at, id).

    Each mailbox's slice is read from its own (account, state, time, id) index and the
    slices are merged with UNION ALL, so the page costs the same at 1k and 100k
    conversations. Four queries whatever the page size: the mailbox ids, the merged
    keys, the rows with deal/lead/account, their participants.
    """
    accounts = accessible_accounts(user)
    if account_id is not None:
        accounts = accounts.filter(pk=account_id)
    account_ids = list(accounts.order_by("id").values_list("id", flat=True))
    if not account_ids:
        return FolderPage([], None)
    base = Conversation.objects.filter(_folder_filter(folder))
    if search:
        base = base.filter(
            Q(subject__icontains=search)
            | Q(participants__address__icontains=search)
            | Q(participants__name__icontains=search)
        ).distinct()
    if cursor:
        after = Cursor.decode(cursor)
        base = base.filter(
            Q(last_message_at__lt=after.last_message_at)
            | Q(last_message_at=after.last_message_at, id__lt=after.id)
        )
    order = ("-last_message_at", "-id")
    if len(account_ids) == 1 or not connection.features.supports_slicing_ordering_in_compound:
        # SQLite (the demo) cannot slice inside a UNION: one ordered scan is fine at demo size.
        merged = base.filter(account_id__in=account_ids).order_by(*order).values_list("id", "last_message_at")
    else:
        slices = [
            base.filter(account_id=a).order_by(*order).values_list("id", "last_message_at")[: limit + 1]
            for a in account_ids
        ]
        merged = slices[0].union(*slices[1:], all=True).order_by(*order)
    keys = list(merged[: limit + 1])
    next_cursor = None
    if len(keys) > limit:
        keys = keys[:limit]
        next_cursor = Cursor(keys[-1][1], keys[-1][0]).encode()
    by_id = {
        c.pk: c
        for c in Conversation.objects.filter(pk__in=[k[0] for k in keys])
        .select_related("deal", "lead", "account")
        .prefetch_related(Prefetch("participants", queryset=Participant.objects.order_by("id")))
    }
    return FolderPage([by_id[k[0]] for k in keys], next_cursor)


SELECT_ALL_MAX = 5000  # "Select all N": one action never takes more than this many at once


def matching_ids(
    user: User,
    folder: SearchFolder,
    *,
    account_id: int | None = None,
    query: str = "",
    limit: int = SELECT_ALL_MAX,
) -> list[int]:
    """Every conversation of a list (folder, mailbox, search) the user may act on, newest
    first, up to ``limit``: what "Select all N" selects beyond the rows on screen."""
    if query:
        page = search_page(user, folder, query, account_id=account_id, limit=limit)
        return [c.pk for c in page.conversations]
    found = actionable_conversations(user)
    if account_id is not None:
        found = found.filter(account_id=account_id)
    if folder != "all":
        found = found.filter(_folder_filter(folder))
    return list(found.order_by("-last_message_at", "-id").values_list("id", flat=True)[:limit])


def folder_counts(user: User, *, account_id: int | None = None) -> dict[str, int]:
    """Unread in Inbox, and totals for Sent and Archive, in one query."""
    accounts = accessible_accounts(user)
    if account_id is not None:
        accounts = accounts.filter(pk=account_id)
    return Conversation.objects.filter(account_id__in=accounts.values("id")).aggregate(
        inbox=Count("id", filter=_folder_filter("inbox")),
        inbox_unread=Count("id", filter=_folder_filter("inbox") & Q(is_read=False)),
        sent=Count("id", filter=_folder_filter("sent")),
        archive=Count("id", filter=_folder_filter("archive")),
    )


def get_conversation(user: User, conversation_id: int) -> Conversation:
    conversation = (
        visible_conversations(user)
        .select_related("account", "deal", "lead")
        .prefetch_related(
            "projects",
            Prefetch("participants", queryset=Participant.objects.select_related("person__organization")),
        )
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def conversation_messages(user: User, conversation_id: int) -> list[Message]:
    get_conversation(user, conversation_id)
    return list(Message.objects.filter(conversation_id=conversation_id).order_by("sent_at", "id"))


HistoryKind = Literal["deal", "lead", "project", "person", "organization"]
_CRM_MODELS: dict[str, type[Deal | Lead | Project | Person | Organization]] = {
    "deal": Deal,
    "lead": Lead,
    "project": Project,
    "person": Person,
    "organization": Organization,
}


def crm_object(user: User, kind: str, object_id: int) -> Deal | Lead | Project | Person | Organization:
    model = _CRM_MODELS.get(kind)
    if model is None or user.company_id is None:
        raise NotFound("No such record.")
    obj = model.objects.filter(company_id=user.company_id, pk=object_id).first()
    if obj is None:
        raise NotFound("No such record.")
    return obj


def _history_filter(kind: str, object_id: int) -> Q:
    return {
        "deal": Q(deal_id=object_id),
        "lead": Q(lead_id=object_id),
        "project": Q(projects__id=object_id),
        "person": Q(participants__person_id=object_id),
        "organization": Q(participants__person__organization_id=object_id),
    }[kind]


def history_emails(user: User, kind: str, object_id: int, *, limit: int = 100) -> list[Message]:
    """The emails linked to a CRM record, newest first — archived ones included."""
    crm_object(user, kind, object_id)
    conversations = visible_conversations(user).filter(_history_filter(kind, object_id)).values("id")
    return list(
        Message.objects.filter(conversation_id__in=conversations)
        .select_related("conversation")
        .order_by("-sent_at", "-id")[:limit]
    )


def recent_audit(user: User, *, limit: int = 50) -> list[AuditEvent]:
    """What the user did (and what happened in their mailboxes), with push results."""
    if user.company_id is None:
        return []
    accounts = accessible_accounts(user).values("id")
    return list(
        AuditEvent.objects.filter(company_id=user.company_id)
        .filter(Q(actor_id=user.pk) | Q(account_id__in=accounts))
        .prefetch_related("changes")
        .order_by("-created_at", "-id")[:limit]
    )


# -- Reads for the browser UI (search, row refresh, neighbours, email delete preview) ----

SearchFolder = Literal["inbox", "archive", "sent", "all"]
_SEARCH_WORD = re.compile(r"\w+", re.UNICODE)
MAX_SEARCH_TERMS = 8


def search_terms(raw: str) -> list[str]:
    """Words of a search box entry; punctuation is a separator (e-mail addresses split)."""
    return [t for t in _SEARCH_WORD.findall(raw.lower()) if t.strip("_")][:MAX_SEARCH_TERMS]


def _term_filter(term: str, account_ids: list[int]) -> Q:
    """One word, found in the subject, a participant's name or address, or a message body.

    PostgreSQL: full-text search with the language-neutral ``simple`` configuration and
    prefix matching (``pric`` finds "Pricing"), because the mail is in several languages
    and people type partial words. SQLite (the demo): case-insensitive substring.
    """
    # Each subquery is limited to the mailboxes searched, so the per-mailbox walks below
    # do not each scan everyone's mail.
    people = Participant.objects.filter(
        conversation_id=OuterRef("pk"), conversation__account_id__in=account_ids
    ).filter(Q(address__icontains=term) | Q(name__icontains=term))
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        query = SearchQuery(f"{term}:*", search_type="raw", config="simple")
        # A word starting with ``term`` contains it, so the substring test is a necessary
        # condition: it runs first and only rows that pass it are parsed into tsvectors.
        # The result is full-text (word-prefix) matching at the price of a LIKE scan; a
        # GIN index on the same to_tsvector expressions makes it an index lookup.
        body: QuerySet[Message] = (
            Message.objects.filter(conversation_id=OuterRef("pk"), account_id__in=account_ids)
            .filter(text__icontains=term)
            .annotate(_doc=SearchVector("text", config="simple"))
            .filter(_doc=query)
        )
        subject = Q(
            Exists(
                Conversation.objects.filter(pk=OuterRef("pk"), account_id__in=account_ids)
                .filter(subject__icontains=term)
                .annotate(_doc=SearchVector("subject", config="simple"))
                .filter(_doc=query)
            )
        )
    else:
        body = Message.objects.filter(
            conversation_id=OuterRef("pk"), account_id__in=account_ids, text__icontains=term
        )
        subject = Q(subject__icontains=term)
    return subject | Q(Exists(people)) | Q(Exists(body))


def search_page(
    user: User,
    folder: SearchFolder,
    query: str,
    *,
    account_id: int | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> FolderPage:
    """Conversations matching every word of ``query``, newest first, keyset-paged.

    ``folder`` "all" searches every folder. Four queries whatever the page size.
    """
    accounts = accessible_accounts(user)
    if account_id is not None:
        accounts = accounts.filter(pk=account_id)
    account_ids = list(accounts.order_by("id").values_list("id", flat=True))
    terms = search_terms(query)
    if not account_ids or not terms:
        return FolderPage([], None)
    order = ("-last_message_at", "-id")

    def matching(mailboxes: list[int]) -> QuerySet[Conversation]:
        found = Conversation.objects.filter(account_id__in=mailboxes)
        if folder != "all":
            found = found.filter(_folder_filter(folder))
        for term in terms:
            found = found.filter(_term_filter(term, mailboxes))
        if cursor:
            after = Cursor.decode(cursor)
            found = found.filter(
                Q(last_message_at__lt=after.last_message_at)
                | Q(last_message_at=after.last_message_at, id__lt=after.id)
            )
        return found.order_by(*order)

    if len(account_ids) == 1 or not connection.features.supports_slicing_ordering_in_compound:
        merged = matching(account_ids).values_list("id", "last_message_at")
    else:
        # As in folder_page: one index walk per mailbox that stops at the page's end, so a
        # common word costs a page, not the folder, and each mailbox's subqueries read
        # only its own mail (the small estimate also keeps PostgreSQL from JIT-compiling).
        slices = [matching([a]).values_list("id", "last_message_at")[: limit + 1] for a in account_ids]
        merged = slices[0].union(*slices[1:], all=True).order_by(*order)
    keys = list(merged[: limit + 1])
    next_cursor = None
    if len(keys) > limit:
        keys = keys[:limit]
        next_cursor = Cursor(keys[-1][1], keys[-1][0]).encode()
    by_id = {c.pk: c for c in conversation_rows(user, [k[0] for k in keys])}
    return FolderPage([by_id[k[0]] for k in keys if k[0] in by_id], next_cursor)


def conversation_rows(user: User, ids: list[int]) -> list[Conversation]:
    """Visible conversations loaded as a list row needs them (two queries for any number)."""
    if not ids:
        return []
    return list(
        visible_conversations(user)
        .filter(pk__in=ids)
        .select_related("deal", "lead", "account")
        .prefetch_related(Prefetch("participants", queryset=Participant.objects.order_by("id")))
        .order_by("-last_message_at", "-id")
    )


def in_folder(conversation: Conversation, folder: str) -> bool:
    """Whether a loaded conversation belongs in a folder (same rules as ``_folder_filter``)."""
    if folder == "inbox":
        return conversation.state == ConversationState.INBOX and conversation.has_incoming
    if folder == "archive":
        return conversation.state == ConversationState.ARCHIVED
    if folder == "sent":
        return conversation.has_outgoing
    return True


def folder_of(conversation: Conversation) -> Folder:
    """The folder a conversation is shown from when opened on its own."""
    if conversation.state == ConversationState.ARCHIVED:
        return "archive"
    return "inbox" if conversation.has_incoming else "sent"


@dataclass(frozen=True)
class Neighbours:
    newer_id: int | None
    older_id: int | None


def conversation_neighbours(user: User, conversation: Conversation, folder: Folder) -> Neighbours:
    """The next newer and older conversation in a folder, for j/k in the conversation view.

    Same per-mailbox UNION as ``folder_page``, one row per mailbox and direction: two
    queries plus the mailbox ids, whatever the folder's size.
    """
    account_ids = list(accessible_accounts(user).order_by("id").values_list("id", flat=True))
    if not account_ids:
        return Neighbours(None, None)
    base = Conversation.objects.filter(_folder_filter(folder))
    at, pk = conversation.last_message_at, conversation.pk
    older_q = Q(last_message_at__lt=at) | Q(last_message_at=at, id__lt=pk)
    newer_q = Q(last_message_at__gt=at) | Q(last_message_at=at, id__gt=pk)

    def first(q: Q, order: tuple[str, str]) -> int | None:
        rows: QuerySet[Conversation, tuple[int, datetime]]
        if len(account_ids) == 1 or not connection.features.supports_slicing_ordering_in_compound:
            rows = (
                base.filter(q, account_id__in=account_ids)
                .order_by(*order)
                .values_list("id", "last_message_at")
            )
        else:
            slices = [
                base.filter(q, account_id=a).order_by(*order).values_list("id", "last_message_at")[:1]
                for a in account_ids
            ]
            rows = slices[0].union(*slices[1:], all=True).order_by(*order)
        hit = list(rows[:1])
        return hit[0][0] if hit else None

    return Neighbours(
        newer_id=first(newer_q, ("last_message_at", "id")),
        older_id=first(older_q, ("-last_message_at", "-id")),
    )


@dataclass(frozen=True)
class MessageDeletePreview:
    """What "Delete this email" will do, for its confirmation (decision 5)."""

    message: Message
    last_in_conversation: bool
    trash_in: str  # the provider's name when its Trash is touched, else ""
    linked: list[str]

    def sentence(self) -> str:
        who = self.message.from_name or self.message.from_address or "unknown sender"
        parts = [f"Delete the email “{self.message.subject or '(no subject)'}” from {who} for good"]
        account = self.message.conversation.account
        if account.is_team:
            parts.append(f" for every member of the team mailbox {account}")
        if self.linked:
            parts.append("; it disappears from the History of " + ", ".join(self.linked))
        if self.last_in_conversation:
            parts.append("; it is the only email in its conversation, so the conversation goes too")
        if self.trash_in:
            parts.append(f", and it is moved to Trash in {self.trash_in}")
        return "".join(parts) + ". This cannot be undone."


def preview_message_delete(user: User, message_id: int) -> MessageDeletePreview:
    message = (
        Message.objects.filter(pk=message_id, conversation_id__in=actionable_conversations(user).values("id"))
        .select_related("conversation__account__company", "conversation__deal", "conversation__lead")
        .first()
    )
    if message is None:
        raise NotFound("No such email.")
    conversation = message.conversation
    account = conversation.account
    _, delete_on = sync_switches(account)
    linked = []
    if conversation.deal is not None:
        linked.append(f"deal {conversation.deal.title}")
    if conversation.lead is not None:
        linked.append(f"lead {conversation.lead.title}")
    linked += [f"project {t}" for t in conversation.projects.values_list("title", flat=True)[:3]]
    has_ref = delete_on and account.syncs_with_provider and message.refs.exists()
    return MessageDeletePreview(
        message=message,
        last_in_conversation=conversation.message_count <= 1,
        trash_in=account.get_provider_display() if has_ref else "",
        linked=linked,
    )


def conversation_with_messages(user: User, conversation_id: int) -> tuple[Conversation, list[Message]]:
    """A visible conversation and its messages in order (four queries for any length)."""
    conversation = get_conversation(user, conversation_id)
    messages = Message.objects.filter(conversation_id=conversation.pk).order_by("sent_at", "id")
    return conversation, list(messages)


def get_message(user: User, message_id: int) -> Message:
    """One message of a visible conversation."""
    message = (
        Message.objects.filter(pk=message_id, conversation_id__in=visible_conversations(user).values("id"))
        .select_related("conversation")
        .first()
    )
    if message is None:
        raise NotFound("No such email.")
    return message


COUNT_CAP = 1000


def nav_counts(user: User, *, account_id: int | None = None) -> dict[str, int]:
    """The folder counts the navigation shows, each counted only up to ``COUNT_CAP``.

    ``folder_counts`` aggregates every conversation of the mailboxes, which grows with
    the mailbox; these four counts each stop after ``COUNT_CAP`` rows of the folder's
    own index, so a page costs about the same at 1,000 and at 100,000 conversations.
    A count equal to the cap reads as "1,000+". (Inbox unread stops at the cap too, but
    with few unread among many read it reads the Inbox's rows — the folder reps keep
    small by archiving.)
    """
    accounts = accessible_accounts(user)
    if account_id is not None:
        accounts = accounts.filter(pk=account_id)
    account_ids = list(accounts.values_list("id", flat=True))
    mine = Conversation.objects.filter(account_id__in=account_ids)
    inbox = mine.filter(_folder_filter("inbox"))

    folders = {
        "inbox": inbox,
        "inbox_unread": inbox.filter(is_read=False),
        "sent": mine.filter(_folder_filter("sent")),
        "archive": mine.filter(_folder_filter("archive")),
    }
    if not account_ids:
        return dict.fromkeys(folders, 0)
    # The four capped counts in one round trip: each is a scalar subquery over a LIMITed scan.
    columns: list[str] = []
    params: list[Any] = []
    for name, qs in folders.items():
        sql, sql_params = qs.values("id")[:COUNT_CAP].query.sql_with_params()
        columns.append(f"(SELECT COUNT(*) FROM ({sql}) AS {name}_rows)")  # noqa: S608  (ORM-compiled SQL, params bound)
        params.extend(sql_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(columns), params)
        row = cursor.fetchone()
    return dict(zip(folders, row, strict=True))
