"""All permission-checked reads of the user's mail.

A user sees the conversations of their own personal accounts and of the team accounts
they are a member of; conversations marked shared are also visible (read-only) to the
rest of their company. Anything else is ``NotFound`` — the same answer as "does not exist".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.db.models.lookups import IsNull

from accounts.models import User
from crm.models import Deal, Lead, Organization, Person, Project
from inbox.errors import InvalidRequest, NotFound
from inbox.folders import FOLDERS, Folder, folder_filter, folder_of, in_folder
from inbox.models import (
    AuditEvent,
    Conversation,
    MailAccount,
    Message,
    OutgoingMessage,
    Participant,
    UserSyncSettings,
)
from inbox.search_sql import SqlWithParams, compiled_once

__all__ = ["FOLDERS", "Folder", "folder_of", "in_folder"]  # the folder rule lives in inbox.folders
PAGE_SIZE = 50


def accessible_accounts(user: User) -> QuerySet[MailAccount]:
    if not user.is_authenticated or user.company_id is None:
        return MailAccount.objects.none()
    member_of = MailAccount.members.through.objects.filter(user_id=user.pk).values("mailaccount_id")
    return MailAccount.objects.filter(company_id=user.company_id).filter(
        Q(kind="personal", owner_id=user.pk) | Q(kind="team", id__in=member_of)
    )


@dataclass(frozen=True)
class Mailboxes:
    """The mailboxes a user may act on, read once for a whole page (``user_mailboxes``).

    A list page needs them three times: the rows (each mailbox's slice), the navigation
    counts and the mailbox list in the sidebar. The selectors that take one check it is the
    acting user's, so it can only narrow what they would read themselves.
    """

    user_id: int
    accounts: tuple[MailAccount, ...]  # in (kind, address) order, as the sidebar lists them

    def ids(self, account_id: int | None = None) -> list[int]:
        """Their ids in id order; with ``account_id``, only it (none when not one of them)."""
        return sorted(a.pk for a in self.accounts if account_id is None or a.pk == account_id)

    def get(self, account_id: int) -> MailAccount:
        """One of them, or ``NotFound`` (the same answer as ``get_account``)."""
        for account in self.accounts:
            if account.pk == account_id:
                return account
        raise NotFound("No such mailbox.")


def user_mailboxes(user: User) -> Mailboxes:
    """The user's mailboxes in one query (personal, then team; by address): the SQL of
    ``accessible_accounts`` compiled once per process, with this user's ids put in."""
    if not user.is_authenticated or user.company_id is None:
        return Mailboxes(user.pk, ())
    sql, template, slots = _user_mailboxes_sql()
    values = {_STAND_IN_COMPANY: user.company_id, _STAND_IN_USER: user.pk}
    params = list(template)
    for position, stand_in in slots:
        params[position] = values[stand_in]
    return Mailboxes(user.pk, tuple(MailAccount.objects.raw(sql, params)))


_STAND_IN_COMPANY, _STAND_IN_USER = -1, -2  # no row has a negative id


@lru_cache(maxsize=1)
def _user_mailboxes_sql() -> tuple[str, tuple[Any, ...], tuple[tuple[int, int], ...]]:
    stand_in = User(pk=_STAND_IN_USER, company_id=_STAND_IN_COMPANY)
    sql, params = accessible_accounts(stand_in).order_by("kind", "address").query.sql_with_params()
    slots = tuple((i, p) for i, p in enumerate(params) if p in (_STAND_IN_COMPANY, _STAND_IN_USER))
    if {p for _, p in slots} != {_STAND_IN_COMPANY, _STAND_IN_USER}:
        raise AssertionError("The mailbox query takes the user's company and id.")
    return sql, tuple(params), slots


def _mailboxes_of(user: User, mailboxes: Mailboxes | None) -> Mailboxes:
    if mailboxes is None:
        return user_mailboxes(user)
    if mailboxes.user_id != user.pk:
        raise ValueError("Mailboxes read for another user.")
    return mailboxes


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


class SyncSwitches(NamedTuple):
    """The two switches: archive / delete in the external mailbox too."""

    archive: bool
    delete: bool


def sync_switches(target: MailAccount | User) -> SyncSwitches:
    """The switches in force: a team mailbox's own; a personal mailbox's owner's General
    settings; for a user, their General settings. Both off until someone opts in."""
    if isinstance(target, MailAccount) and target.is_team:
        return SyncSwitches(target.archive_in_provider, target.delete_in_provider)
    user_id = target.owner_id if isinstance(target, MailAccount) else target.pk
    row = UserSyncSettings.objects.filter(user_id=user_id).first() if user_id else None
    if row is None:
        return SyncSwitches(archive=False, delete=False)
    return SyncSwitches(row.archive_in_provider, row.delete_in_provider)


@dataclass(frozen=True)
class Cursor:
    last_message_at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.last_message_at.timestamp():.6f}_{self.id}"

    @classmethod
    def decode(cls, raw: str) -> Cursor:
        try:
            stamp, ident = raw.split("_", 1)
            return cls(datetime.fromtimestamp(float(stamp), tz=UTC), int(ident))
        except (ValueError, OverflowError) as exc:
            raise InvalidRequest("Bad page cursor.") from exc


@dataclass(frozen=True)
class FolderPage:
    conversations: list[Conversation]
    next_cursor: str | None


def folder_page(
    user: User,
    folder: Folder,
    *,
    account_id: int | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
    search: str = "",
    mailboxes: Mailboxes | None = None,
) -> FolderPage:
    """One page of a folder, newest first, by keyset on (last_message_at, id).

    Each mailbox's slice is read from its own (account, state, time, id) index and the
    slices are merged with UNION ALL, so the page costs the same at 1k and 100k
    conversations. Three queries whatever the page size: the mailboxes (none when the
    caller passes ``mailboxes``, read once for its whole page), the rows with deal/lead
    (only the columns a row shows; the merged keys are a subquery of it), their
    participants (as ``listed_participants``: ``ListedParticipant`` in id order). The rows
    share the mailboxes already read instead of joining and building one per row.
    """
    mine = _mailboxes_of(user, mailboxes)
    account_ids = mine.ids(account_id)
    if not account_ids:
        return FolderPage([], None)
    by_pk = {a.pk: a for a in mine.accounts}
    base = Conversation.objects.filter(folder_filter(folder))
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
    # The page's keys as a subquery of the rows' query: one round trip for both.
    keys_sql, keys_params = merged[: limit + 1].query.sql_with_params()
    page_keys = RawSQL(f'SELECT "k"."id" FROM ({keys_sql}) AS "k"', keys_params)  # noqa: S608, S611 (ORM-compiled SQL, params bound)
    rows = list(_list_rows(Conversation.objects.filter(pk__in=page_keys)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = Cursor(rows[-1].last_message_at, rows[-1].pk).encode()
    _attach_listed(rows, by_pk)
    return FolderPage(rows, next_cursor)


def _list_rows(found: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """``found`` newest first, with only what a list row shows (``LIST_ROW_FIELDS``)."""
    return found.select_related("deal", "lead").only(*LIST_ROW_FIELDS).order_by("-last_message_at", "-id")


def _attach_listed(rows: list[Conversation], accounts: dict[int, MailAccount]) -> None:
    """Give list rows their mailbox (from ``accounts``, already read, not one built per row)
    and their ``listed_participants``, in one query for any number of rows."""
    listed: dict[int, list[ListedParticipant]] = {c.pk: [] for c in rows}
    people = Participant.objects.filter(conversation_id__in=list(listed)).order_by("id")
    for conversation_id, address, name in people.values_list("conversation_id", "address", "name"):
        listed[conversation_id].append(ListedParticipant(address, name))
    for conversation in rows:
        conversation.account = accounts[conversation.account_id]
        conversation.listed_participants = listed[conversation.pk]  # type: ignore[attr-defined]


class ListedParticipant(NamedTuple):
    """A participant as a list row shows it (``conversation.listed_participants``, in id
    order). Not a model instance and not ``conversation.participants.all()``: Django's
    prefetch builds a filtered queryset for each row (for a later ``.filter()`` on it) and
    a model instance per participant — a fifth of an Inbox page's Python, for two strings."""

    address: str
    name: str


# What a list row shows and what decides its folder (``web.rendering.decorate_rows``,
# ``in_folder``): the page loads only these columns. The others (the message-id threading
# keys, four more timestamps, the deal's and lead's every field) cost the database and the
# driver more than the rest of the row — a timestamp is parsed in Python — on every page.
LIST_ROW_FIELDS = (
    "id",
    "account",
    "subject",
    "snippet",
    "state",
    "has_incoming",
    "has_outgoing",
    "is_read",
    "message_count",
    "has_attachments",
    "last_message_at",
    "deal",
    "deal__title",
    "lead",
    "lead__title",
)


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
        # The ids only: "Select all 5,000" with a search must not load 5,000 rows to read them.
        _, keys = _search_keys(user, folder, query, account_id=account_id, cursor=None, limit=limit)
        return [pk for pk, _ in keys[:limit]]
    found = actionable_conversations(user)
    if account_id is not None:
        found = found.filter(account_id=account_id)
    if folder != "all":
        found = found.filter(folder_filter(folder))
    return list(found.order_by("-last_message_at", "-id").values_list("id", flat=True)[:limit])


def folder_counts(user: User, *, account_id: int | None = None) -> dict[str, int]:
    """Unread in Inbox, and totals for Sent and Archive, in one query."""
    accounts = accessible_accounts(user)
    if account_id is not None:
        accounts = accounts.filter(pk=account_id)
    return Conversation.objects.filter(account_id__in=accounts.values("id")).aggregate(
        inbox=Count("id", filter=folder_filter("inbox")),
        inbox_unread=Count("id", filter=folder_filter("inbox") & Q(is_read=False)),
        sent=Count("id", filter=folder_filter("sent")),
        archive=Count("id", filter=folder_filter("archive")),
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


def _term_places(term: str, account_ids: list[int]) -> tuple[QuerySet[Participant], QuerySet[Message], Q]:
    """Where one word is looked for: participants, message bodies (of ``account_ids``; the
    indexed condition only, ``_term_filter`` adds the substring test) and the subject (a
    condition on the conversation). Not yet tied to a conversation.

    PostgreSQL: full-text search with the language-neutral ``simple`` configuration and
    prefix matching (``pric`` finds "Pricing"), because the mail is in several languages
    and people type partial words. SQLite (the demo): case-insensitive substring.
    Participants match by substring on both.
    """
    people = Participant.objects.filter(Q(address__icontains=term) | Q(name__icontains=term))
    body = Message.objects.filter(account_id__in=account_ids)
    subject = Q(subject__icontains=term)
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector, SearchVectorExact

        query = SearchQuery(f"{term}:*", search_type="raw", config="simple")
        body = body.annotate(_doc=SearchVector("text", config="simple")).filter(_doc=query)
        subject &= Q(SearchVectorExact(SearchVector("subject", config="simple"), query))
    return people, body, subject


def _term_filter(term: str, account_ids: list[int], *, probe: bool = False) -> Q:
    """One word, found in the subject, a participant's name or address, or a message body.

    ``probe``: test the participants and messages of each conversation row as the walk
    reaches it (a scalar subquery, which PostgreSQL never turns into a hashed subplan);
    otherwise ``EXISTS`` (SQLite's search). PostgreSQL's index query reads the rarest word's
    matches from the GIN indexes instead (``_term_hits``).
    """
    people, body, subject = _term_places(term, account_ids)
    people = people.filter(conversation_id=OuterRef("pk"))
    # A word starting with ``term`` contains it, so on PostgreSQL the substring test is a
    # necessary condition: it is cheaper than parsing the row into a tsvector and runs first.
    # The conversation's own mailbox: exact when one query searches several, and one probe
    # serves every query of a search (``_condition_sql``).
    body = body.filter(
        conversation_id=OuterRef("pk"), account_id=OuterRef("account_id"), text__icontains=term
    )
    if probe:
        return (
            subject
            | Q(IsNull(Subquery(people.values("pk")[:1]), False))
            | Q(IsNull(Subquery(body.values("pk")[:1]), False))
        )
    return subject | Q(Exists(people)) | Q(Exists(body))


@dataclass(frozen=True)
class SearchEstimate:
    """PostgreSQL's own estimates for a search, from one ``EXPLAIN`` (nothing executed; the
    statistics of the trigram and full-text indexes' expressions): for each word, the
    participants and the bodies containing it — the set the index query builds for its first
    word — and how many participants and bodies there are in all; and for each word, the
    conversations with it in the subject. Empty when the plan could not be read."""

    rows: dict[str, tuple[float, float]]
    totals: tuple[float, float] | None
    subjects: dict[str, float] = field(default_factory=dict)

    def matches(self, term: str) -> float:
        people, bodies = self.rows[term]
        return people + bodies

    def share(self, term: str) -> float:
        """The share of conversations with the word, at most: its participants' share plus
        its bodies' (a conversation has several of each, so this overcounts)."""
        people, bodies = self.rows[term]
        people_total, bodies_total = self.totals or (1.0, 1.0)
        return min(1.0, people / max(people_total, 1.0) + bodies / max(bodies_total, 1.0))

    def everywhere(self, term: str) -> float | None:
        """The word's participants, bodies and subjects: every row its hits are read from.
        None when not estimated."""
        if term not in self.rows or term not in self.subjects:
            return None
        return self.matches(term) + self.subjects[term]


def _estimate_search(terms: list[str], account_ids: list[int]) -> SearchEstimate:
    """Call it with parallel workers off: a parallel Append lists its branches by cost, not in
    query order."""
    per_term = (_people_sql, _bodies_fts_sql, _subjects_fts_sql)
    branches = [
        *(build(t, account_ids) for t in terms for build in per_term),
        _all_people_sql("", account_ids),
        _all_bodies_sql("", account_ids),
    ]
    with connection.cursor() as db:
        db.execute(
            "EXPLAIN (FORMAT JSON) " + " UNION ALL ".join(f"({sql})" for sql, _ in branches),
            [p for _, params in branches for p in params],
        )
        explained = db.fetchone()[0]
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    children = plan.get("Plans", []) if plan["Node Type"] == "Append" else []
    if len(children) != len(branches):
        return SearchEstimate({}, None)
    estimated = [child["Plan Rows"] for child in children]
    n = len(per_term)
    rows = {term: (estimated[n * i], estimated[n * i + 1]) for i, term in enumerate(terms)}
    subjects = {term: estimated[n * i + 2] for i, term in enumerate(terms)}
    return SearchEstimate(rows, (estimated[-2], estimated[-1]), subjects)


@compiled_once
def _people_sql(term: str, account_ids: list[int]) -> SqlWithParams:
    """The conversations of the participants with ``term`` (any mailbox's: a participant
    belongs to its conversation's)."""
    return _sql_of(_term_places(term, account_ids)[0].values("conversation_id"))


@compiled_once
def _bodies_fts_sql(term: str, account_ids: list[int]) -> SqlWithParams:
    """The conversations of the messages of ``account_ids`` with ``term`` by full-text search
    alone: what the GIN index finds (the estimate's)."""
    return _sql_of(_term_places(term, account_ids)[1].values("conversation_id"))


@compiled_once
def _bodies_sql(term: str, account_ids: list[int]) -> SqlWithParams:
    """The (mailbox, conversation) of each message of ``account_ids`` with ``term``: the
    full-text match and the substring, as ``_term_filter``'s."""
    body = _term_places(term, account_ids)[1].filter(text__icontains=term)
    return _sql_of(body.values("account_id", "conversation_id"))


@compiled_once
def _subject_sql(term: str, account_ids: list[int]) -> SqlWithParams:
    return _condition_sql(_term_places(term, account_ids)[2])


@compiled_once
def _subjects_sql(term: str, account_ids: list[int]) -> SqlWithParams:
    """The conversations of ``account_ids`` with ``term`` in the subject (as ``_subject_sql``)."""
    subject = _term_places(term, account_ids)[2]
    return _sql_of(Conversation.objects.filter(subject, account_id__in=account_ids).values("id"))


@compiled_once
def _subjects_fts_sql(term: str, account_ids: list[int]) -> SqlWithParams:
    """The conversations of ``account_ids`` with the word ``term`` itself in the subject, by
    the full-text index (the estimate's). Not the prefix: PostgreSQL estimates a prefix from
    the share of its matching words among all words, which for subjects (few distinct words)
    put "pricing", in one subject in 13, at one in 50. Not the substring test either: its
    selectivity is a guess. A prefix of common words can still look rare; the index query
    counts before it trusts that (``_search_index``)."""
    from django.contrib.postgres.search import SearchQuery, SearchVector

    query = SearchQuery(term, search_type="raw", config="simple")
    found = Conversation.objects.filter(account_id__in=account_ids).annotate(
        _doc=SearchVector("subject", config="simple")
    )
    return _sql_of(found.filter(_doc=query).values("id"))


@compiled_once
def _probe_sql(term: str, account_ids: list[int]) -> SqlWithParams:
    return _condition_sql(_term_filter(term, account_ids, probe=True))


@compiled_once
def _all_people_sql(_: str, account_ids: list[int]) -> SqlWithParams:
    """Every participant: the estimate's total."""
    return _sql_of(Participant.objects.values("conversation_id"))


@compiled_once
def _all_bodies_sql(_: str, account_ids: list[int]) -> SqlWithParams:
    """Every message of ``account_ids``: the estimate's total."""
    return _sql_of(Message.objects.filter(account_id__in=account_ids).values("conversation_id"))


def _terms_by_rarity(terms: list[str], estimate: SearchEstimate) -> list[str]:
    """The terms, fewest matches first by the estimate. For "Maya Silva": "maya" (one person
    in 20 in the demo) before the longer "silva" (one in 6). Only speed depends on the order,
    never the results. A tie, or an estimate missing, goes to the longest term first."""
    by_length = sorted(terms, key=len, reverse=True)
    if len(terms) == 1 or any(term not in estimate.rows for term in terms):
        return by_length
    return sorted(by_length, key=estimate.matches)  # stable: equal estimates stay longest first


# The walk is skipped only when the index query's set of the rarest word is at most this many
# participants and bodies: building it costs about 2 µs a row (about 40 ms for 20,000 on the
# bench machine), so a skip the estimate got wrong (the walk would have found a page) costs
# at most that much more.
SKIP_WALK_MAX_ROWS = 20_000


def _walk_can_fill_a_page(estimate: SearchEstimate, terms: list[str], limit: int) -> bool:
    """Whether the walk may find a page of matches within its ``SEARCH_WALK_ROWS`` rows; if
    not, walking them only delays the index query that must follow (a full name, an address,
    a word nobody wrote). The expected matches in the window: the words' shares of the
    conversations multiplied, as if the words were independent. Words that go together (a
    phrase) are more common together than that; so a word whose set is large is walked
    anyway (``SKIP_WALK_MAX_ROWS``). Unknown: walk. ``terms``: rarest first."""
    if estimate.totals is None or any(term not in estimate.rows for term in terms):
        return True
    if estimate.matches(terms[0]) > SKIP_WALK_MAX_ROWS:
        return True
    expected = float(SEARCH_WALK_ROWS)
    for term in terms:
        expected *= estimate.share(term)
    return expected > limit


def _condition_sql(condition: Q) -> tuple[str, list[Any]]:
    """A condition on a conversation row as SQL, compiled once to be used in several queries
    of one search: building and compiling the terms' subqueries for each query was most of
    a multi-word search's Python time. It names the table itself ("inbox_conversation"), as
    a query on ``Conversation`` does unless the table is aliased (never in the search)."""
    query = Conversation.objects.filter(condition).query
    sql, params = query.get_compiler(connection=connection).compile(query.where)
    return sql, list(params)


def _sql_of(query: QuerySet[Any, Any]) -> SqlWithParams:
    sql, params = query.query.sql_with_params()
    return sql, list(params)


def _all_in_order(conditions: list[tuple[str, list[Any]]]) -> RawSQL:
    """Every condition holds, tested in the order given: the next only for rows that passed
    the ones before. ``CASE``, not ``AND``: PostgreSQL orders the conditions of an ``AND`` by
    their cost per row, not by how many rows they keep, and a common word's probe ("test"
    in an address) is the cheapest — it finds a row at once — so it ran first on every row.
    A condition that is NULL rejects the row, as in ``AND``.
    """
    sql, params = conditions[-1]
    for before, before_params in reversed(conditions[:-1]):
        sql, params = f"CASE WHEN {before} THEN {sql} ELSE false END", [*before_params, *params]
    return RawSQL(sql, params, output_field=BooleanField())  # noqa: S611 (ORM-compiled SQL, params bound)


# How far the search walks a mailbox's folder in page order, testing row by row, before it
# asks the indexes instead. A page of matches within this many conversations costs a walk
# of at most this many rows (a few ms); fewer matches than that are answered from the GIN
# indexes (trigram for participants, full text for subjects and bodies), which is cheap
# exactly when the matches are few.
SEARCH_WALK_ROWS = 1000


def search_page(
    user: User,
    folder: SearchFolder,
    query: str,
    *,
    account_id: int | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
    mailboxes: Mailboxes | None = None,
) -> FolderPage:
    """Conversations matching every word of ``query``, newest first, keyset-paged.
    ``mailboxes``: the user's, when the caller has read them already.

    ``folder`` "all" searches every folder. On PostgreSQL, in a transaction without parallel
    workers: an ``EXPLAIN`` that orders the words rarest first and tells whether the walk
    can fill a page; the walk of each mailbox's newest ``SEARCH_WALK_ROWS`` conversations,
    unless it cannot; the index query for the mailboxes with fewer matches than a page in
    it; then the page's rows. The count does not grow with the page size.
    """
    searched, keys = _search_keys(
        user, folder, query, account_id=account_id, cursor=cursor, limit=limit, mailboxes=mailboxes
    )
    if not keys:
        return FolderPage([], None)
    next_cursor = None
    if len(keys) > limit:
        keys = keys[:limit]
        next_cursor = Cursor(keys[-1][1], keys[-1][0]).encode()
    # The keys are the user's own mailboxes' (as a folder page's): the rows are loaded as
    # folder_page loads them.
    rows = list(
        _list_rows(Conversation.objects.filter(pk__in=[k[0] for k in keys], account_id__in=list(searched)))
    )
    _attach_listed(rows, searched)
    return FolderPage(rows, next_cursor)


def _search_keys(
    user: User,
    folder: SearchFolder,
    query: str,
    *,
    account_id: int | None,
    cursor: str | None,
    limit: int,
    mailboxes: Mailboxes | None = None,
) -> tuple[dict[int, MailAccount], list[tuple[int, datetime]]]:
    """The user's mailboxes searched (by id, in id order) and the (id, last_message_at) keys
    of the matches, newest first, ``limit + 1`` at most: ``search_page`` without loading a row."""
    searched = {
        a.pk: a
        for a in sorted(_mailboxes_of(user, mailboxes).accounts, key=lambda a: a.pk)
        if account_id is None or a.pk == account_id
    }
    account_ids = list(searched)
    terms = search_terms(query)
    if not account_ids or not terms:
        return searched, []
    order = ("-last_message_at", "-id")

    def folder_scope(mailboxes: list[int]) -> QuerySet[Conversation]:
        found = Conversation.objects.filter(account_id__in=mailboxes)
        if folder != "all":
            found = found.filter(folder_filter(folder))
        if cursor:
            after = Cursor.decode(cursor)
            found = found.filter(
                Q(last_message_at__lt=after.last_message_at)
                | Q(last_message_at=after.last_message_at, id__lt=after.id)
            )
        return found

    if connection.vendor != "postgresql":
        # SQLite (the demo) plans no hashed subplans and cannot slice inside a UNION: one
        # ordered scan of the mailboxes is fine at demo size.
        every = folder_scope(account_ids)
        for term in terms:
            every = every.filter(_term_filter(term, account_ids))
        return searched, list(every.order_by(*order).values_list("id", "last_message_at")[: limit + 1])
    return searched, _search_keys_postgresql(account_ids, terms, folder_scope, limit)


FolderScope = Callable[[list[int]], QuerySet[Conversation]]


def _search_keys_postgresql(
    account_ids: list[int], terms: list[str], folder_scope: FolderScope, limit: int
) -> list[tuple[int, datetime]]:
    """The page's (id, last_message_at) keys, newest first, ``limit + 1`` at most.

    First PostgreSQL's estimates (``_estimate_search``): the words' order, rarest first —
    every query below tests a row's words in that order (``_all_in_order``), so a common
    word ("test" of an address) is probed only on the rows that have the rarer ones — and
    whether the walk can find a page at all. Each word's probe is compiled to SQL once and
    used by every query (``_condition_sql``).

    Then the walk (``_search_walk``), and for the mailboxes where it found less than a page
    before its bound, the index query (``_search_index``). When the words are too rare
    together for the walk to fill a page (``_walk_can_fill_a_page``), the index query alone
    searches the whole folder: the same conditions on the same rows, so the same results.
    """
    with transaction.atomic(savepoint=False):
        _no_parallel_workers()
        estimate = _estimate_search(terms, account_ids)
        terms = _terms_by_rarity(terms, estimate)
        probes = [_probe_sql(t, account_ids) for t in terms]
        if _walk_can_fill_a_page(estimate, terms, limit):
            keys, bound_of = _search_walk(account_ids, probes, folder_scope, limit)
        else:
            keys, bound_of = [], dict.fromkeys(account_ids, _NEWER_THAN_ANY)
        found_in = Counter(account for account, _, _ in keys)
        sparse = [a for a in account_ids if a in bound_of and found_in[a] <= limit]
        if sparse:
            hits_first = _hits_are_few(estimate, terms[0])
            keys += _search_index(
                sparse, bound_of, terms[0], probes[1:], folder_scope, limit, hits_first=hits_first
            )
    keys.sort(key=lambda k: (k[2], k[1]), reverse=True)
    return [(pk, at) for _, pk, at in keys[: limit + 1]]


# The index query's bound when there was no walk: every conversation is older.
_NEWER_THAN_ANY = datetime(9999, 12, 31, tzinfo=UTC)


def _no_parallel_workers() -> None:
    """For the rest of this transaction: the whole-mailbox index scans of the index query stay
    in this request's process, and ``_estimate_search`` reads its plan's branches in order."""
    with connection.cursor() as db:
        db.execute("SELECT set_config('max_parallel_workers_per_gather', '0', true)")


def _search_walk(
    account_ids: list[int], probes: list[tuple[str, list[Any]]], folder_scope: FolderScope, limit: int
) -> tuple[list[tuple[int, int, datetime]], dict[int, datetime]]:
    """Per mailbox, walk the folder index in page order and test each row by probes
    (participants and messages by ``conversation_id``), stopping at a page of matches or at
    the ``SEARCH_WALK_ROWS``-th conversation (its time is the ``bound``, read from the same
    index). That walk never computes a term's matches in the whole mailbox (no hashed
    subplan) and uses no parallel workers. Returns the (mailbox, id, last_message_at) rows
    found and each mailbox's bound (none for a mailbox smaller than the window).
    """
    order = ("-last_message_at", "-id")
    far = datetime(1, 1, 1, tzinfo=UTC)

    def walk(mailbox: int) -> QuerySet[Conversation, tuple[int, int, datetime, datetime | None]]:
        window = folder_scope([mailbox]).order_by(*order).values("last_message_at")
        bound = Subquery(window[SEARCH_WALK_ROWS : SEARCH_WALK_ROWS + 1])
        found = folder_scope([mailbox]).alias(_bound=Coalesce(bound, Value(far)))
        return (
            found.filter(last_message_at__gte=F("_bound"))
            .filter(_all_in_order(probes))
            .order_by(*order)
            .annotate(bound=bound)
            .values_list("account_id", "id", "last_message_at", "bound")[: limit + 1]
        )

    slices = [walk(a) for a in account_ids]
    walked = slices[0].union(*slices[1:], all=True) if len(slices) > 1 else slices[0]
    rows = list(walked)
    bound_of = {account: bound for account, _, _, bound in rows if bound is not None}
    # A mailbox with no match in its window has no row to carry its bound: ask again.
    walked_mailboxes = {account for account, _, _, _ in rows}
    unknown = [a for a in account_ids if a not in walked_mailboxes]
    if unknown:
        window_bounds = [
            folder_scope([a])
            .order_by(*order)
            .values_list("account_id", "last_message_at")[SEARCH_WALK_ROWS : SEARCH_WALK_ROWS + 1]
            for a in unknown
        ]
        bounds = (
            window_bounds[0].union(*window_bounds[1:], all=True) if len(unknown) > 1 else window_bounds[0]
        )
        bound_of.update(dict(bounds))
    return [(account, pk, at) for account, pk, at, _ in rows], bound_of


def _search_index(
    sparse: list[int],
    bound_of: dict[int, datetime],
    term: str,
    probes: list[tuple[str, list[Any]]],
    folder_scope: FolderScope,
    limit: int,
    *,
    hits_first: bool = False,
) -> list[tuple[int, int, datetime]]:
    """The mailboxes with few matches, older than their walk's bound, newest first: one
    query. The rarest ``term``'s participants and bodies in these mailboxes are read once
    from the GIN indexes (``_term_hits``: the set is small, or the walk would have found a
    page); each mailbox's folder is walked in page order, testing that set (and the subject)
    and then the other terms' ``probes``; and the mailboxes' walks are merged in page order
    (a Merge Append), so all of them together stop at a page rather than a page each.

    ``hits_first`` (the estimate says the word is rare): the query also holds the other way
    round — each mailbox's rows found from the word's participants, subjects and bodies by
    key (few: not the walk's most of the folder, or all of it for a word nobody wrote), the
    other probes, sorted — and runs that way only when the hits, counted as they are read,
    are at most ``HITS_FIRST_MAX_ROWS``; else the walk. The estimate is a guess (a prefix's
    is often several times off), the count is not; one of the two runs (a one-time filter).
    """
    ctes, ctes_params, found = _term_hits(term, sparse)
    subject, subject_params = _subject_sql(term, sparse)
    first = (f"({subject} OR {found})", subject_params)
    walks = [
        folder_scope([mailbox])
        .filter(last_message_at__lt=bound_of[mailbox])
        .filter(_all_in_order([first, *probes]))
        for mailbox in sparse
    ]
    if hits_first:
        subjects_sql, subjects_params = _subjects_sql(term, sparse)
        ctes += f', "search_subjects" AS MATERIALIZED ({subjects_sql})'
        ctes_params = [*ctes_params, *subjects_params]
        few = _hits_at_most(HITS_FIRST_MAX_ROWS)
        # Top-level conditions: the count a one-time filter, the hits a semi-join.
        hits = [
            folder_scope([mailbox])
            .filter(last_message_at__lt=bound_of[mailbox])
            .filter(_sql_condition(few))
            .filter(_sql_condition(_HITS.format(mailbox=mailbox)))
            for mailbox in sparse
        ]
        if probes:
            hits = [rows.filter(_all_in_order(probes)) for rows in hits]
        walks = [walk.filter(_sql_condition(f"NOT {few}")) for walk in walks] + hits
    ordered = [
        walk.order_by("-last_message_at", "-id").values_list("account_id", "id", "last_message_at")
        for walk in walks
    ]
    return _merged_newest(ordered, limit, ctes, ctes_params)


# The index query starts from the rarest word's matches rather than walking the folder when
# there are at most this many participants, bodies and subjects with it. Starting from them
# costs a few µs each (reading each one's conversation by key, then sorting); the walk about
# 2 µs a folder row until it has a page, which for a word this rare is most of the folder
# (every row, for a word nobody wrote).
HITS_FIRST_MAX_ROWS = 3000

# A conversation of mailbox ``mailbox`` among the word's hits (``_term_hits``, ``search_subjects``).
_HITS = (
    '"inbox_conversation"."id" IN (SELECT "conversation_id" FROM "search_people"'
    ' UNION ALL SELECT "id" FROM "search_subjects"'
    ' UNION ALL SELECT "conversation_id" FROM "search_bodies" WHERE "account_id" = {mailbox:d})'
)


def _hits_at_most(cap: int) -> str:
    """Whether the word has at most ``cap`` hits: counted by reading at most ``cap + 1`` of
    them (a materialized CTE is computed as it is read, so this builds no more of it than the
    query that follows would)."""
    hits = (
        'SELECT 1 FROM "search_people" UNION ALL SELECT 1 FROM "search_subjects"'
        ' UNION ALL SELECT 1 FROM "search_bodies"'
    )
    return f'((SELECT COUNT(*) FROM ({hits} LIMIT {cap + 1:d}) AS "hits") <= {cap:d})'  # noqa: S608 (constant SQL)


def _hits_are_few(estimate: SearchEstimate, term: str) -> bool:
    everywhere = estimate.everywhere(term)
    return everywhere is not None and everywhere <= HITS_FIRST_MAX_ROWS


def _sql_condition(sql: str) -> RawSQL:
    return RawSQL(sql, (), output_field=BooleanField())  # noqa: S611 (constant SQL)


def _merged_newest(
    walks: list[QuerySet[Any, Any]], limit: int, ctes: str, ctes_params: list[Any]
) -> list[tuple[int, int, datetime]]:
    """The newest ``limit + 1`` rows of the ordered ``walks`` (each of one mailbox), merged in
    page order, after the common table expressions ``ctes``."""
    walks = [walk[: limit + 1] for walk in walks]
    if len(walks) > 1:
        walks[0] = walks[0].union(*walks[1:], all=True).order_by("-last_message_at", "-id")[: limit + 1]
    sql, params = walks[0].query.sql_with_params()
    with connection.cursor() as db:
        db.execute(f"{ctes} {sql}", [*ctes_params, *params])
        return list(db.fetchall())


def _term_hits(term: str, account_ids: list[int]) -> tuple[str, list[Any], str]:
    """A word's participants and message bodies in ``account_ids`` as two materialized CTEs
    (built once however many mailboxes a query walks), and the condition on a conversation
    row that it has one of them — a message of its own mailbox, as ``_term_filter``'s."""
    people_sql, people_params = _people_sql(term, account_ids)
    body_sql, body_params = _bodies_sql(term, account_ids)
    ctes = (
        f'WITH "search_people" AS MATERIALIZED ({people_sql}), "search_bodies" AS MATERIALIZED ({body_sql})'
    )
    found = (
        '"inbox_conversation"."id" IN (SELECT "conversation_id" FROM "search_people")'
        ' OR ("inbox_conversation"."account_id", "inbox_conversation"."id")'
        ' IN (SELECT "account_id", "conversation_id" FROM "search_bodies")'
    )
    return ctes, [*people_params, *body_params], found


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
    newer, older = ([row[0] for row in qs] for qs in _neighbour_queries(conversation, folder, account_ids))
    return Neighbours(newer_id=newer[0] if newer else None, older_id=older[0] if older else None)


def _neighbour_queries(
    conversation: Conversation, folder: Folder, account_ids: list[int]
) -> tuple[QuerySet[Conversation, tuple[int, datetime]], QuerySet[Conversation, tuple[int, datetime]]]:
    """The newer and the older neighbour, each a query of at most one (id, time) row."""
    base = Conversation.objects.filter(folder_filter(folder))
    at, pk = conversation.last_message_at, conversation.pk
    older_q = Q(last_message_at__lt=at) | Q(last_message_at=at, id__lt=pk)
    newer_q = Q(last_message_at__gt=at) | Q(last_message_at=at, id__gt=pk)

    def first(q: Q, order: tuple[str, str]) -> QuerySet[Conversation, tuple[int, datetime]]:
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
        return rows[:1]

    return first(newer_q, ("last_message_at", "id")), first(older_q, ("-last_message_at", "-id"))


def accessible_account_ids(user: User) -> list[int]:
    """The ids of the mailboxes the user may act on, in id order (one query)."""
    return list(accessible_accounts(user).order_by("id").values_list("id", flat=True))


def neighbours_and_counts(
    conversation: Conversation, folder: Folder, account_ids: list[int]
) -> tuple[Neighbours, dict[str, int]]:
    """``conversation_neighbours`` and ``nav_counts`` for the conversation page in one
    round trip: each is a scalar subquery of one SELECT (the same index walks)."""
    if not account_ids:
        return Neighbours(None, None), dict.fromkeys(NAV_COUNTS, 0)
    columns, params = _nav_count_columns(account_ids)
    selects: list[str] = []
    all_params: list[Any] = []
    for name, qs in zip(
        ("newer", "older"), _neighbour_queries(conversation, folder, account_ids), strict=True
    ):
        sql, sql_params = qs.query.sql_with_params()
        selects.append(f"(SELECT id FROM ({sql}) AS {name}_row)")  # noqa: S608  (ORM-compiled SQL, params bound)
        all_params.extend(sql_params)
    selects += columns.values()
    all_params += params
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(selects), all_params)
        row = cursor.fetchone()
    return Neighbours(row[0], row[1]), dict(zip(columns, row[2:], strict=True))


@dataclass(frozen=True)
class MessageDeletePreview:
    """What "Delete this email" will do, for its confirmation (decision 5)."""

    message: Message
    last_in_conversation: bool
    trash_in: str  # the provider's name when its Trash is touched, else ""
    linked: list[str]


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


def nav_counts(
    user: User, *, account_id: int | None = None, mailboxes: Mailboxes | None = None
) -> dict[str, int]:
    """The folder counts the navigation shows, each counted only up to ``COUNT_CAP``.

    ``folder_counts`` aggregates every conversation of the mailboxes, which grows with
    the mailbox; these four counts each stop after ``COUNT_CAP`` rows of the folder's
    own index, so a page costs about the same at 1,000 and at 100,000 conversations.
    A count equal to the cap reads as "1,000+". (Inbox unread stops at the cap too, but
    with few unread among many read it reads the Inbox's rows — the folder reps keep
    small by archiving.) ``mailboxes``: the user's, when the caller has read them already.
    """
    account_ids = _mailboxes_of(user, mailboxes).ids(account_id)
    if not account_ids:
        return dict.fromkeys(NAV_COUNTS, 0)
    columns, params = _nav_count_columns(account_ids)
    # The four capped counts in one round trip: each is a scalar subquery over a LIMITed scan.
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(columns.values()), params)
        row = cursor.fetchone()
    return dict(zip(columns, row, strict=True))


NAV_COUNTS = ("inbox", "inbox_unread", "sent", "archive")


def _nav_count_columns(account_ids: list[int]) -> tuple[dict[str, str], list[Any]]:
    """The four capped counts as scalar subqueries (SQL) and their parameters.

    The SQL depends only on how many mailboxes there are: it is compiled once per number
    (by the ORM, from ``folder_filter``) and only the ids change, which saves compiling
    four querysets on every page."""
    columns, template, slots = _nav_count_sql(len(account_ids), COUNT_CAP)
    params = list(template)
    for position, index in slots:
        params[position] = account_ids[index]
    return dict(columns), params


@lru_cache(maxsize=32)
def _nav_count_sql(
    mailbox_count: int, cap: int
) -> tuple[tuple[tuple[str, str], ...], tuple[Any, ...], tuple[tuple[int, int], ...]]:
    """``_nav_count_columns`` for ``mailbox_count`` mailboxes, compiled with stand-in ids
    (negative: no row has one); and where each mailbox's id goes among the parameters."""
    stand_ins = [-1 - i for i in range(mailbox_count)]
    columns, params = _compile_nav_count_columns(stand_ins, cap)
    slots = tuple((position, -1 - p) for position, p in enumerate(params) if p in stand_ins)
    if len(slots) != 4 * mailbox_count:
        raise AssertionError("Each count takes every mailbox id once.")
    return tuple(columns.items()), tuple(params), slots


def _compile_nav_count_columns(account_ids: list[int], cap: int) -> tuple[dict[str, str], list[Any]]:
    mine = Conversation.objects.filter(account_id__in=account_ids)
    inbox = mine.filter(folder_filter("inbox"))
    folders = {
        "inbox": inbox,
        "inbox_unread": inbox.filter(is_read=False),
        "sent": mine.filter(folder_filter("sent")),
        "archive": mine.filter(folder_filter("archive")),
    }
    columns: dict[str, str] = {}
    params: list[Any] = []
    for name, qs in folders.items():
        sql, sql_params = qs.values("id")[:cap].query.sql_with_params()
        columns[name] = f"(SELECT COUNT(*) FROM ({sql}) AS {name}_rows)"  # noqa: S608  (ORM-compiled SQL, params bound)
        params.extend(sql_params)
    return columns, params


def send_states(user: User, message_ids: list[int]) -> dict[int, OutgoingMessage]:
    """How far each of these messages sent from the app got (sending, sent, not sent)."""
    if not message_ids:
        return {}
    accounts = accessible_accounts(user).values("id")
    rows = OutgoingMessage.objects.filter(message_id__in=message_ids, account_id__in=accounts)
    return {row.message_id: row for row in rows.only("id", "message_id", "state", "error", "send_after")}
