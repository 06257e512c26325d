"""The shared parse → ingest → quarantine step every provider's pull ends in.

A message that cannot be parsed or stored is kept in ``QuarantinedMessage`` with the
reason (and its bytes, up to a cap) and the sync goes on: one bad message must never
stop a mailbox from syncing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from inbox.lookups import values_in
from inbox.models import MailAccount
from inbox.services import ingest_message
from inbox.services.ingest import ingest_messages
from inbox.types import ParsedMessage, RefData
from sync.faults import clear_fault
from sync.mime import MAX_ATTACHMENTS, parse_message
from sync.models import FaultState, QuarantinedMessage
from sync.parse_pool import ParseInput, ParseJob, parse_one, start_parsing

logger = logging.getLogger(__name__)

_Stored = TypeVar("_Stored")

# Bytes of a quarantined message kept for a later look (the provider keeps the whole).
QUARANTINE_RAW_LIMIT = 5 * 1024 * 1024
# The body cap every provider's pull shares: a larger message is not fetched whole; it is
# imported from its headers (and its text, where the provider can give that alone) and
# says so in the conversation (``headers_only_reason``). The provider keeps the whole.
MAX_FETCH_BYTES = 25 * 1024 * 1024
_MB = 1024 * 1024


class StoreOutcome(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    TOMBSTONED = "tombstoned"
    QUARANTINED = "quarantined"


def commit_without_waiting_for_disk() -> None:
    """Let the current transaction (a pulled group's messages) commit without waiting for
    PostgreSQL to flush it to disk (``SET LOCAL synchronous_commit = off``): a pull commits
    a group every ~250 messages, and each wait for the disk was a few milliseconds of idle
    pipeline.

    Safe because a pull saves its folder cursors last, in a commit that does wait
    (``synchronous_commit`` stays on there), and PostgreSQL writes its log in order: once
    the cursor is on disk, so is every group committed before it — on any connection: the
    log is one for the whole server, and a pull that stores on a second connection
    (``BackgroundStore``) saves its cursors only after ``wait`` said the last group
    committed, so that commit's record is in the log before the cursor's. A database crash
    can only lose the newest groups *and* the cursor together; the next pull starts from the
    old cursor and fetches them again (known messages are skipped by their references). Nothing
    is lost or half-written: an asynchronous commit is atomic like any other, it is only
    its durability that waits for the next flush (at most ~0.6 s, ``wal_writer_delay`` × 3).
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")


def look_up_by_index() -> None:
    """Let the current transaction (a pulled group's) read only by index where one exists
    (``SET LOCAL enable_seqscan = off``; PostgreSQL).

    Everything a group's store reads is looked up by key: the ingest's probes, and at the
    commit the foreign-key checks of every new row (``SELECT 1 FROM conversation WHERE id =
    $1``). PostgreSQL plans each check once per connection and keeps the plan. When the
    tables had been emptied and vacuumed (statistics: 0 rows), that plan was made while the
    first small group made them one page long — a sequential scan — and kept while they
    grew: each check read the whole table. A first sync of 10,000 messages took 16 s instead
    of 6 (9.4 s in its commits), and the loss grows with the square of the mailbox. Planned
    under this setting, the checks and probes use the primary keys and the ingest's indexes
    at any size; a table without a usable index is still read whole."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")


def own_addresses(account: MailAccount) -> list[str]:
    """The account's address plus any aliases in its config: From one of them = sent mail."""
    aliases = account.config.get("aliases") if isinstance(account.config, dict) else None
    return [account.address.lower(), *[str(a).lower() for a in (aliases or [])]]


def store_raw_message(
    account: MailAccount,
    raw: bytes,
    ref: RefData,
    *,
    incoming: bool | None = None,
    is_read: bool = False,
    fallback_date: datetime | None = None,
    headers_only_reason: str = "",
) -> StoreOutcome:
    """Parse and ingest one message; quarantine it with the reason when that fails.

    ``incoming`` overrides the From-address rule when the provider knows better (Gmail's
    SENT label). ``headers_only_reason`` marks a message whose body was not fetched (too
    large): it is stored from its headers with that reason among its problems.
    """
    item = RawItem(raw, ref, incoming, is_read, fallback_date, headers_only_reason)
    parsed = parse_item(account, item)
    if isinstance(parsed, str):
        logger.warning("quarantined %s for account %s: %s", ref.key, account.pk, parsed)
        quarantine(account, ref.key, raw, parsed)
        return StoreOutcome.QUARANTINED
    return store_parsed_message(account, parsed, ref, raw=raw)


@dataclass(frozen=True)
class RawItem:
    """One fetched message and what ``store_raw_message`` takes with it."""

    raw: bytes
    ref: RefData
    incoming: bool | None = None
    is_read: bool = False
    fallback_date: datetime | None = None
    headers_only_reason: str = ""


def parse_input(account: MailAccount, item: RawItem, own: tuple[str, ...] | None = None) -> ParseInput:
    """What a parse worker takes for ``item``; ``own``: the account's ``own_addresses``,
    when the caller read them once for a whole group."""
    fallback = item.fallback_date
    if fallback is not None and fallback.tzinfo is not None:
        # imapclient's FixedOffset cannot be unpickled (its __init__ needs an argument): the
        # same instant in UTC can go to a parse worker.
        fallback = fallback.astimezone(UTC)
    return ParseInput(
        item.raw,
        own if own is not None else tuple(own_addresses(account)),
        fallback,
        item.headers_only_reason,
        item.is_read,
        item.incoming,
    )


def parse_item(account: MailAccount, item: RawItem) -> ParsedMessage | str:
    """The parsed message, or why it could not be parsed (then it is quarantined)."""
    return parse_one(parse_input(account, item))


def start_parsing_items(account: MailAccount, items: Sequence[RawItem]) -> ParseJob:
    """Parse a fetched group in the worker pool (inline when small); collect with
    ``store_raw_messages(..., parsing=job)``."""
    own = tuple(own_addresses(account))
    return start_parsing([parse_input(account, item, own) for item in items])


def store_raw_messages(
    account: MailAccount, items: Sequence[RawItem], *, parsing: ParseJob | None = None
) -> list[StoreOutcome]:
    """``store_raw_message`` for a fetched batch: each message parsed (a failure quarantined
    alone), then the rest ingested together (``store_parsed_messages``). ``parsing``: the
    group's parse already started (``start_parsing_items``)."""
    results = (parsing or start_parsing_items(account, items)).results()
    outcomes: dict[int, StoreOutcome] = {}
    parsed_items: list[tuple[int, ParsedMessage, RefData, bytes]] = []
    for index, (item, parsed) in enumerate(zip(items, results, strict=True)):
        if isinstance(parsed, str):
            logger.warning("quarantined %s for account %s: %s", item.ref.key, account.pk, parsed)
            quarantine(account, item.ref.key, item.raw, parsed)
            outcomes[index] = StoreOutcome.QUARANTINED
        else:
            parsed_items.append((index, parsed, item.ref, item.raw))
    stored = store_parsed_messages(account, [(parsed, ref, raw) for _, parsed, ref, raw in parsed_items])
    for (index, *_rest), outcome in zip(parsed_items, stored, strict=True):
        outcomes[index] = outcome
    return [outcomes[index] for index in range(len(items))]


class StoreGroups:
    """Fetched messages stored in groups through ``store_raw_messages`` (one bulk ingest and
    one commit per group; a message that fails alone is quarantined alone), for a pull that
    fetches one message (or one small HTTP batch) at a time: Gmail, Outlook.

    A group is closed at ``count`` messages or ``max_bytes`` of mail; its parse starts at once
    in the worker pool and it is stored when the next group closes, so the workers parse
    while the pull fetches (a group too small for the pool is parsed and stored at once).
    At most two groups are held: memory stays bounded by about ``2 * max_bytes`` plus one
    message. ``on_stored(items, outcomes)`` runs
    inside the group's transaction. ``flush`` stores everything held: call it at the end and
    before giving up (a throttled pull stores what it fetched)."""

    def __init__(
        self,
        account: MailAccount,
        *,
        count: int,
        max_bytes: int,
        on_stored: Callable[[Sequence[RawItem], Sequence[StoreOutcome]], None],
    ) -> None:
        self.account = account
        self.count = count
        self.max_bytes = max_bytes
        self.on_stored = on_stored
        self._open: list[RawItem] = []
        self._open_bytes = 0
        self._parsing: tuple[list[RawItem], ParseJob] | None = None

    def add(self, item: RawItem) -> None:
        self._open.append(item)
        self._open_bytes += len(item.raw)
        if len(self._open) >= self.count or self._open_bytes >= self.max_bytes:
            self._close()

    def _close(self) -> None:
        items, self._open, self._open_bytes = self._open, [], 0
        job = start_parsing_items(self.account, items) if items else None
        self._store_parsing()
        if items and job is not None:
            self._parsing = (items, job)
            if not job.futures:
                # Parsed inline (a small group, or one big message): nothing runs meanwhile,
                # so it is stored at once rather than held next to the following group.
                self._store_parsing()

    def _store_parsing(self) -> None:
        if self._parsing is None:
            return
        items, job = self._parsing
        self._parsing = None
        with transaction.atomic():
            look_up_by_index()
            outcomes = store_raw_messages(self.account, items, parsing=job)
            self.on_stored(items, outcomes)

    def flush(self) -> None:
        self._close()
        self._store_parsing()


class BackgroundStore:
    """Stores a pull's fetched groups on a thread of its own, one at a time and in order, so
    the pull reads (and the parse workers parse) the next group while PostgreSQL writes this
    one. Before, the pull's thread waited for each group's COPY, index updates and commit —
    about as long as all its reading — and the two took turns.

    One group at most is being stored: ``submit`` first waits for the one before, so groups
    commit in the order they were read and memory stays at one group being stored, one being
    parsed and one being fetched. ``wait`` returns once everything submitted is stored: call
    it before anything that reads what a store writes (references, faults) and before saving
    a cursor — a cursor must never be saved past a group that did not commit. An exception a
    store raised is raised again, as it was, by the next ``submit`` or ``wait``. ``on_stored``
    (the group's counts) runs in the caller's thread, inside that ``submit`` or ``wait``: the
    caller's state is only ever touched by the caller's thread.

    The push uses it too (``sync.ref_follower.RefFollower``: references rewritten while the
    next MOVE batch moves), with a ``thread_name`` of its own for the logs.

    The thread is started by the first ``submit(..., background=True)`` and has its own
    database connection (Django gives each thread one); ``close`` closes it. A store runs in
    the caller's thread instead when ``background`` is false (an import too small to gain
    anything from a thread and a second connection), and always when the caller's connection
    is inside a transaction (``atomic``, e.g. a test): a second connection could not see what
    that transaction wrote, and would commit what a rollback of it must take back.
    """

    def __init__(self, thread_name: str = "pull-store") -> None:
        self._thread_name = thread_name
        self._inline = connection.in_atomic_block
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: tuple[Future[Any], Callable[[Any], None], frozenset[str]] | None = None

    @property
    def busy(self) -> bool:
        """A group was handed to the thread and is not known to be stored yet."""
        return self._in_flight is not None

    def holds_any(self, keys: Iterable[str]) -> bool:
        """Whether the group being stored has one of these provider keys."""
        return self._in_flight is not None and not self._in_flight[2].isdisjoint(keys)

    def submit(
        self,
        store: Callable[[], _Stored],
        on_stored: Callable[[_Stored], None],
        *,
        keys: Collection[str] = (),
        background: bool = True,
    ) -> None:
        """Run ``store`` (one group, in a transaction of its own) after the group before it,
        on the thread; then ``on_stored`` with its result. ``keys``: the group's provider keys
        (``holds_any``)."""
        self.wait()
        if self._inline or not background:
            on_stored(store())
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._thread_name)
        self._in_flight = (self._executor.submit(store), on_stored, frozenset(keys))

    def wait(self) -> None:
        """Everything submitted is stored (or the first error is raised)."""
        if self._in_flight is None:
            return
        future, on_stored, _keys = self._in_flight
        self._in_flight = None
        on_stored(future.result())

    def close(self) -> None:
        """The pull is over: wait for the group being stored (raising its error), then stop
        the thread and close its database connection."""
        try:
            self.wait()
        finally:
            self._stop()

    def close_after_error(self) -> None:
        """The pull is ending with an error of its own, which is the one to raise: the group
        being stored is still waited for (it commits, or its error is logged) — the thread
        must be done with its connection before it is closed, and the pull's lock released."""
        in_flight, self._in_flight = self._in_flight, None
        try:
            if in_flight is not None:
                try:
                    in_flight[0].result()
                except Exception:
                    logger.exception("storing a group failed while the pull was ending with an error")
        finally:
            self._stop()

    def _stop(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            # Run on the thread: Django's connections belong to the thread that opened them.
            executor.submit(connections.close_all)
            executor.shutdown(wait=True)


def store_parsed_messages(
    account: MailAccount, items: Sequence[tuple[ParsedMessage, RefData, bytes]]
) -> list[StoreOutcome]:
    """``store_parsed_message`` for each item, in order, with one bulk ingest of the batch.

    When the bulk ingest fails (a row PostgreSQL refuses, a bug), nothing of it was written
    and the batch goes one by one: the failing message is quarantined alone, as before."""
    if not items:
        return []
    try:
        results = ingest_messages(account, [(parsed, ref) for parsed, ref, _raw in items])
    except (DatabaseError, ValueError, TypeError) as exc:
        logger.warning("bulk ingest of %d messages failed (%r): storing them one by one", len(items), exc)
        return [store_parsed_message(account, parsed, ref, raw=raw) for parsed, ref, raw in items]
    quarantined = _quarantined_keys(account)
    for _parsed, ref, _raw in items:
        if ref.key[:500] in quarantined:
            clear_fault(account, ref.key)
    return [StoreOutcome(result.outcome.value) for result in results]


def store_parsed_message(
    account: MailAccount, parsed: ParsedMessage, ref: RefData, *, raw: bytes = b""
) -> StoreOutcome:
    try:
        result = ingest_message(account, parsed, ref)
    except (DatabaseError, ValueError, TypeError) as exc:
        # ingest_message is atomic: nothing of the message was written.
        logger.warning("quarantined %s for account %s: %r", ref.key, account.pk, exc)
        quarantine(account, ref.key, raw, f"could not be stored: {exc.__class__.__name__}: {exc}")
        return StoreOutcome.QUARANTINED
    if ref.key[:500] in _quarantined_keys(account):
        # A message that was retrying, or quarantined by an earlier (buggier) run, arrived
        # (or is known already): it is no longer stuck.
        clear_fault(account, ref.key)
    return StoreOutcome(result.outcome.value)


def _quarantined_keys(account: MailAccount) -> set[str]:
    """The account's quarantined keys, loaded once per account object (a pull holds one):
    checking them in memory saves a DELETE per imported message."""
    keys: set[str] | None = getattr(account, "_quarantined_keys", None)
    if keys is None:
        keys = set(QuarantinedMessage.objects.filter(account=account).values_list("provider_key", flat=True))
        account._quarantined_keys = keys  # type: ignore[attr-defined]
    return keys


def quarantine(account: MailAccount, key: str, raw: bytes, reason: str) -> None:
    with transaction.atomic():
        QuarantinedMessage.objects.update_or_create(
            account=account,
            provider_key=key[:500],
            defaults={
                "state": FaultState.QUARANTINED,
                "next_retry_at": None,
                "reason": reason[:5000],
                "size": len(raw),
                "raw": bytes(raw[:QUARANTINE_RAW_LIMIT]),
                "updated_at": timezone.now(),
            },
        )
    _quarantined_keys(account).add(key[:500])


def too_large_reason(size: int | None, where: str, *, text: bool, files: int, cap: int) -> str:
    """What the conversation says about a message above the body cap (its first problem):
    how large, that it was too large to import whole, what was imported, and that its
    attachments are listed and fetched from the provider when opened."""
    limit = f"{cap // _MB} MB" if cap >= _MB else f"{max(1, cap // 1024)} KB"
    what = (
        f"message of {size / _MB:.1f} MB is above the {limit} import limit"
        if size
        else f"larger than {limit}"
    )
    kept = "its headers and text were imported" if text else "only its headers were imported"
    listed = " Its attachments are listed here and fetched when opened." if files else ""
    return f"{what}: too large to import whole — open in {where} for the rest; {kept}.{listed}"


def store_too_large(
    account: MailAccount,
    raw: bytes,
    ref: RefData,
    *,
    reason: str,
    attachments: Sequence[dict[str, object]],
    incoming: bool | None = None,
    is_read: bool = False,
    fallback_date: datetime | None = None,
) -> StoreOutcome:
    """A message above the body cap, every provider alike: ``raw`` is a small message rebuilt
    from its headers and text parts (parsed whole), ``attachments`` what the provider listed
    of its files without their bytes (name, type, size, inline, Content-ID, and the part
    number or provider id a download asks for). ``reason`` leads its problems."""
    try:
        parsed = parse_message(
            raw, own_addresses=own_addresses(account), fallback_date=fallback_date, is_read=is_read
        )
    except Exception as exc:
        logger.warning("quarantined %s for account %s: %r", ref.key, account.pk, exc)
        quarantine(account, ref.key, raw, f"could not be parsed: {exc.__class__.__name__}: {exc}")
        return StoreOutcome.QUARANTINED
    parsed.problems.insert(0, reason)
    parsed.attachments = [*parsed.attachments, *attachments][: MAX_ATTACHMENTS + 1]
    if incoming is not None:
        parsed.incoming = incoming
    return store_parsed_message(account, parsed, ref, raw=raw)


def exceeds_mass_delete_guard(account: MailAccount, count: int) -> bool:
    """The mass-delete guard every provider's pull applies: deleting at least
    MASS_DELETE_MIN_COUNT messages and more than MASS_DELETE_MAX_SHARE of the mailbox at once
    looks like a broken mailbox, not a user, so the account is paused instead."""
    from django.conf import settings

    from inbox.models import Message

    if count < settings.MASS_DELETE_MIN_COUNT:
        return False
    total = Message.objects.filter(account_id=account.pk).count()
    return count > total * settings.MASS_DELETE_MAX_SHARE


def existing_values(queryset, field_name: str, values: Iterable[str]) -> set[str]:  # type: ignore[no-untyped-def]
    """Which of ``values`` the queryset holds in ``field_name`` (``values_in``)."""
    return {value for (value,) in values_in(queryset, field_name, values, field_name)}


def pause_and_hold_deletions(account: MailAccount, *, state_folder: str, keys: list[str]) -> None:
    """The guard tripped: pause the account and keep the provider keys it would have deleted
    in that FolderState row, for the pull after the user resumes to check again."""
    from inbox.models import Message
    from inbox.services import pause_for_mass_delete
    from sync.models import FolderState

    total = Message.objects.filter(account_id=account.pk).count()
    pause_for_mass_delete(account, len(keys), total)
    state, _ = FolderState.objects.get_or_create(account=account, folder=state_folder)
    held = sorted(set(state.extra.get("held_deletions", [])) | set(keys))
    state.extra = {**state.extra, "held_deletions": held}
    state.save(update_fields=["extra"])
