"""Gmail → app: the first sync, incremental syncs from the stored historyId, the reconcile
after a lost cursor, and deletions on positive evidence only.

* First sync: ``messages.list`` of INBOX and SENT within the account's past-days range
  (``q=after:<epoch>``). The mailbox's historyId is read *before* listing, so whatever
  happens during the listing is seen again by the next incremental sync.
* Incremental: ``history.list`` from the stored historyId.
  - ``messagesAdded`` (or INBOX/SENT added to a message we do not have) → ingest;
    drafts, chats and spam are not mail (``labels``) and are never asked for;
  - TRASH added (and not taken off again in the same stretch) or ``messagesDeleted``
    → delete in the app (decision 1: Trash or gone for good is a delete);
  - INBOX removed (archived in Gmail), category tabs, any other label → no effect.
* A lost cursor (``history.list`` 404: Gmail keeps history for about a week): a resync that
  adds, then a reconcile. Every message id that exists is listed (ids only); each known
  message missing from that list is a candidate, deleted only once ``messages.get`` confirms
  it (404, or TRASH among its labels) and under the mass-delete guard. Missing from a
  listing alone is never a delete.

Fetching (memory stays bounded whatever the mailbox holds): the candidates are first asked
for in ``format=minimal`` (labels and ``sizeEstimate``; drafts, chats, spam and trash stop
there), then fetched ``format=raw`` in HTTP batches of at most ``BATCH_FETCH_BYTES``; a big
message alone; one above ``MAX_FETCH_BYTES`` (the body cap every provider shares) only as
``format=full`` — its headers and text parts, the attachments stay in Gmail — and the
conversation says so.

One message never stalls the mailbox: a message Gmail refuses to return (a 5xx or 403 for
that id, in a batch part or alone) goes to ``sync.faults.record_fetch_failure`` (retried
with backoff, then quarantined with the reason, listed on the status page); the cursor moves
on for the rest and later pulls ask for the due ones again. Only "slow down" (429, 403
rateLimitExceeded) or a failure of a whole request keeps the cursor for the next pull.

Provider key = the Gmail message id (stable across label changes), ``thread_id`` =
Gmail's threadId, folder = "INBOX" or "SENT".
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from inbox.models import MailAccount, ProviderRef, Tombstone
from inbox.services import apply_external_deletions, apply_external_read_state
from inbox.types import RefData
from sync import store
from sync.errors import ProviderAuthError, ProviderError, ProviderTemporaryError
from sync.faults import clear_fault, fetch_retries_due, record_fetch_failure
from sync.mime import describe_attachment, header_only_part, is_attachment
from sync.models import FolderState
from sync.providers.base import PullReport
from sync.providers.gmail import labels as gmail_labels
from sync.providers.gmail.client import (
    GmailClient,
    GmailNotFound,
    GmailRateLimited,
    GmailServerError,
    PartResult,
)
from sync.store import (
    RawItem,
    StoreGroups,
    StoreOutcome,
    exceeds_mass_delete_guard,
    existing_values,
    pause_and_hold_deletions,
    quarantine,
)

logger = logging.getLogger(__name__)

UNREAD = "UNREAD"
CURSOR_FOLDER = ""  # Gmail has one historyId for the whole mailbox
LIST_PAGE_SIZE = 500
HISTORY_PAGE_SIZE = 500
# Candidates looked at (format=minimal) per round: labels and sizes, a few hundred bytes each.
PROBE_ROUND = 500
# One HTTP batch of format=raw answers carries at most this many bytes of mail (base64 adds
# a third, and the client library holds the answer twice while it splits it up)…
BATCH_FETCH_BYTES = 8 * 1024 * 1024
# …and a message of this size or more is fetched alone, outside any batch.
SOLO_FETCH_BYTES = 4 * 1024 * 1024
BATCH_PARTS = 50
# Messages one pull fetches at most: at Gmail's 10 quota units a message and the client's
# pace (client.QUOTA_UNITS_PER_SECOND) about 8 minutes, well within the pull's lock
# (sync.pull.LOCK_SECONDS). A bigger first sync (or backlog) goes on in the next pulls.
MAX_FETCH_PER_PULL = 10_000
# Fetched messages are stored in groups (sync.store.StoreGroups: one bulk ingest, one commit,
# parsed in the worker pool while the next HTTP batches arrive) of this many messages…
STORE_GROUP = 200
# …or this many bytes of mail.
STORE_GROUP_BYTES = 8 * 1024 * 1024
# What a reconcile asks for: ids only, the cheapest listing Gmail has.
ID_FIELDS = "messages/id,nextPageToken"
# FolderState.extra key: reconcile candidates Gmail did not answer for (checked again).
RECHECK = "reconcile_recheck"


class HistoryExpired(Exception):
    """``history.list`` answered 404: the stored historyId is older than Gmail's history."""


@dataclass
class HistoryDelta:
    """What a stretch of history says, reduced to its final state per message."""

    added: dict[str, set[str]] = field(default_factory=dict)  # id -> labels when it appeared
    in_trash: dict[str, bool] = field(default_factory=dict)  # id -> TRASH at the end?
    deleted: set[str] = field(default_factory=set)
    latest_history_id: str = ""
    # id -> read at the end? (UNREAD removed / added, by Gmail's own client or anyone)
    seen: dict[str, bool] = field(default_factory=dict)

    def deletions(self) -> list[str]:
        return sorted(self.deleted | {gmail_id for gmail_id, trashed in self.in_trash.items() if trashed})

    def read(self, record: dict[str, object]) -> None:
        for item in _items(record, "messagesAdded"):
            message = item["message"]
            labels = set(message.get("labelIds") or [])
            if not gmail_labels.is_mail(labels):
                continue  # a draft saved, a chat, spam arriving: not mail, never fetched
            self.added.setdefault(message["id"], labels)
        for item in _items(record, "labelsAdded"):
            message, added = item["message"], set(item.get("labelIds") or [])
            if gmail_labels.TRASH in added:
                self.in_trash[message["id"]] = True
            if gmail_labels.moves_into_sync(added) and gmail_labels.is_mail(message.get("labelIds") or []):
                # Out of Spam, or moved into the Inbox: a message we may not have yet.
                # (A category tab changing is not a move: CATEGORY_* never gets here.)
                self.added.setdefault(message["id"], added)
        for item in _items(record, "labelsRemoved"):
            if gmail_labels.TRASH in (item.get("labelIds") or []):
                self.in_trash[item["message"]["id"]] = False  # restored from the Trash
            if UNREAD in (item.get("labelIds") or []):
                self.seen[item["message"]["id"]] = True
        for item in _items(record, "labelsAdded"):
            if UNREAD in (item.get("labelIds") or []):
                self.seen[item["message"]["id"]] = False
        for item in _items(record, "messagesDeleted"):
            self.deleted.add(item["message"]["id"])


def _items(record: dict[str, object], key: str) -> list[dict[str, Any]]:
    value = record.get(key)
    return value if isinstance(value, list) else []


@dataclass
class Probe:
    """What ``format=minimal`` said about one candidate."""

    gmail_id: str
    labels: set[str]
    seen_with: set[str]
    size: int
    internal_date: object = None


class GmailPull:
    def __init__(self, account: MailAccount, client: GmailClient) -> None:
        self.account = account
        self.client = client
        self.report = PullReport()
        self.refused = 0  # messages Gmail would not return this pull (retried later)
        self.budget = MAX_FETCH_PER_PULL  # messages this pull may still fetch
        self.cut_short = False  # more to fetch than the budget: the cursor stays

    def run(self) -> PullReport:
        state = FolderState.objects.filter(account=self.account, folder=CURSOR_FOLDER).first()
        # (Read first: held deletions Gmail does not answer for join them, asked next pull.)
        recheck = state is not None and bool(state.extra.get(RECHECK))
        if state is not None and state.extra.get("held_deletions"):
            self._recheck_held_deletions(state)
        if state is not None and recheck:
            self._recheck_unconfirmed(state)
        if state is None or not state.cursor:
            self._full_sync()
        else:
            try:
                self._incremental(state)
            except HistoryExpired:
                self.report.notes.append(
                    f"Gmail no longer has history back to {state.cursor}: resync, then a reconcile "
                    "that deletes only what Gmail confirms is in Trash or gone."
                )
                logger.info(
                    "gmail account %s: historyId %s expired, reconcile", self.account.pk, state.cursor
                )
                self._full_sync(reconcile=True)
        self._retry_refused()
        if self.refused:
            self.report.notes.append(
                f"{self.refused} message(s) Gmail would not return: retried later, see the status page"
            )
        return self.report

    # --- first sync, or after the history expired ------------------------------------
    def _full_sync(self, *, reconcile: bool = False) -> None:
        users = self.client.users
        history_id = str(self.client.call(users.getProfile(userId="me"))["historyId"])
        days = self.account.sync_past_days or settings.SYNC_PAST_DAYS
        since = int((timezone.now() - timedelta(days=days)).timestamp())
        ids: dict[str, set[str]] = {}
        for label in gmail_labels.SYNCED_LABELS:
            for item in self._list(labelIds=[label], q=f"after:{since}"):
                ids.setdefault(item["id"], set()).add(label)
        self._fetch_and_store(ids)
        if reconcile:
            self._reconcile()
        if not self.cut_short:
            _save_cursor(self.account, history_id)

    def _list(self, **params: object) -> Iterable[dict[str, Any]]:
        page_token = None
        while True:
            page = self.client.call(
                self.client.messages.list(
                    userId="me", maxResults=LIST_PAGE_SIZE, pageToken=page_token, **params
                )
            )
            yield from page.get("messages", [])
            page_token = page.get("nextPageToken")
            if not page_token:
                return

    # --- reconcile after a lost cursor --------------------------------------------------
    def _reconcile(self) -> None:
        """Known messages no longer listed are candidates; only a confirmed one (404, or in
        Trash) is deleted, under the mass-delete guard. Spam, or a listing that simply missed
        it, deletes nothing."""
        listed = {str(item["id"]) for item in self._list(fields=ID_FIELDS)}
        known = set(ProviderRef.objects.filter(account_id=self.account.pk).values_list("key", flat=True))
        candidates = sorted(known - listed)
        if not candidates:
            return
        confirmed, unsure = self._confirm_gone(candidates)
        self.report.notes.append(
            f"reconcile: {len(candidates)} known message(s) not listed, {len(confirmed)} confirmed "
            f"in Trash or gone"
            + (f", {len(unsure)} could not be checked (kept, checked again next time)" if unsure else "")
        )
        if confirmed:
            self._delete(confirmed, guard=True)
        if unsure:
            # The history that would say what became of them is gone: ask again next pull.
            state, _ = FolderState.objects.get_or_create(account=self.account, folder=CURSOR_FOLDER)
            state.extra = {**state.extra, RECHECK: sorted(set(state.extra.get(RECHECK, [])) | set(unsure))}
            state.save(update_fields=["extra"])

    def _recheck_unconfirmed(self, state: FolderState) -> None:
        """Candidates of an earlier reconcile that Gmail did not answer for: deleted once
        confirmed, forgotten once Gmail shows them alive, kept while it still does not say."""
        keys = [str(k) for k in state.extra.get(RECHECK, [])]
        confirmed, unsure = self._confirm_gone(keys)
        if confirmed:
            self._delete(confirmed, guard=True)
        state.refresh_from_db(fields=["extra"])
        state.extra = {k: v for k, v in state.extra.items() if k != RECHECK}
        if unsure:
            state.extra[RECHECK] = unsure
        state.save(update_fields=["extra"])

    def _confirm_gone(self, keys: list[str]) -> tuple[list[str], list[str]]:
        """(confirmed in Trash or gone, could not be checked)."""
        answers = self.client.batch(
            [(k, self.client.messages.get(userId="me", id=k, format="minimal")) for k in keys]
        )
        confirmed, unsure = [], []
        for key in keys:
            answer = answers[key]
            if isinstance(answer.error, GmailNotFound):
                confirmed.append(key)
            elif answer.error is not None:
                unsure.append(key)
            elif gmail_labels.TRASH in ((answer.response or {}).get("labelIds") or []):
                confirmed.append(key)
        return confirmed, unsure

    # --- incremental ------------------------------------------------------------------
    def _incremental(self, state: FolderState) -> None:
        delta = HistoryDelta(latest_history_id=state.cursor)
        page_token = None
        while True:
            try:
                page = self.client.call(
                    self.client.users.history().list(
                        userId="me",
                        startHistoryId=state.cursor,
                        maxResults=HISTORY_PAGE_SIZE,
                        pageToken=page_token,
                    )
                )
            except GmailNotFound as exc:
                raise HistoryExpired(str(exc)) from exc
            for record in page.get("history", []):
                delta.read(record)
            delta.latest_history_id = str(page.get("historyId") or delta.latest_history_id)
            page_token = page.get("nextPageToken")
            if not page_token:
                break
        gone = set(delta.deletions())
        self._fetch_and_store({k: v for k, v in delta.added.items() if k not in gone})
        seen = {k: v for k, v in delta.seen.items() if k not in gone}
        if seen:
            apply_external_read_state(self.account, seen)
        if gone:
            self._delete(sorted(gone), guard=True)
        if not self.cut_short:
            _save_cursor(self.account, delta.latest_history_id)

    # --- messages Gmail refused earlier ---------------------------------------------------
    def _retry_refused(self) -> None:
        due = fetch_retries_due(self.account)
        if due:
            self._fetch_and_store({row.provider_key: set(row.locator.get("labels") or []) for row in due})

    def _refused(self, gmail_id: str, seen_with: set[str], error: ProviderError) -> None:
        record_fetch_failure(
            self.account,
            gmail_id,
            f"Gmail would not return this message: {error}",
            locator={"labels": sorted(seen_with)},
        )
        self.refused += 1

    # --- fetching and storing ------------------------------------------------------------
    def _fetch_and_store(self, candidates: dict[str, set[str]]) -> None:
        """Fetch and ingest what we do not have yet; skip what was deleted in the app.

        Raises ``GmailRateLimited`` (after storing what arrived) when Gmail said "slow down":
        the cursor stays, so the next pull asks again."""
        ids = list(candidates)
        known = existing_values(ProviderRef.objects.filter(account_id=self.account.pk), "key", ids)
        stoned = existing_values(Tombstone.objects.filter(account_id=self.account.pk), "provider_key", ids)
        self.report.duplicates += len(known)
        self.report.tombstoned += len(stoned - known)
        for gmail_id in known | stoned:
            clear_fault(self.account, gmail_id)
        todo = [i for i in ids if i not in known and i not in stoned]
        if len(todo) > self.budget:
            # The rest waits for the next pulls (the cursor stays, so they list it again and
            # skip what is in by then): a pull paced under Gmail's quota stays within its lock.
            self.report.notes.append(
                f"fetching {self.budget} of {len(todo)} new messages; the rest follows next sync"
            )
            todo, self.cut_short = todo[: self.budget], True
        self.budget -= len(todo)
        throttled: GmailRateLimited | None = None
        groups = StoreGroups(
            self.account, count=STORE_GROUP, max_bytes=STORE_GROUP_BYTES, on_stored=self._stored
        )
        try:
            for start in range(0, len(todo), PROBE_ROUND):
                probes, throttled = self._probe(todo[start : start + PROBE_ROUND], candidates)
                throttled = self._fetch(probes, groups) or throttled
                if throttled is not None:
                    # What arrived is stored (below); the cursor stays, so the next pull
                    # fetches the rest.
                    raise throttled
        finally:
            # Whatever ends the fetching (done, throttled, a failed request), what arrived
            # is stored: the next pull does not ask Gmail for it again.
            groups.flush()

    def _stored(self, items: Sequence[RawItem], outcomes: Sequence[StoreOutcome]) -> None:
        for outcome in outcomes:
            self.report.count(outcome)

    def _probe(
        self, chunk: list[str], candidates: dict[str, set[str]]
    ) -> tuple[list[Probe], GmailRateLimited | None]:
        """Labels and sizes first: what is not mail stops here, and the size decides how
        the message is fetched."""
        answers = self.client.batch(
            [(i, self.client.messages.get(userId="me", id=i, format="minimal")) for i in chunk]
        )
        probes: list[Probe] = []
        throttled: GmailRateLimited | None = None
        for gmail_id in chunk:
            answer, seen_with = answers[gmail_id], candidates[gmail_id]
            if not self._usable(gmail_id, answer, seen_with):
                if isinstance(answer.error, GmailRateLimited):
                    throttled = throttled or answer.error
                continue
            resource = answer.response or {}
            labels = set(resource.get("labelIds") or [])
            if not gmail_labels.is_synced(labels, seen_with):
                # A draft, chat, spam, already in Trash, or mail filtered past the Inbox.
                clear_fault(self.account, gmail_id)
                continue
            probes.append(
                Probe(
                    gmail_id,
                    labels,
                    seen_with,
                    _int(resource.get("sizeEstimate")),
                    resource.get("internalDate"),
                )
            )
        return probes, throttled

    def _usable(self, gmail_id: str, answer: PartResult, seen_with: set[str]) -> bool:
        """True for an answer; otherwise handles the error: gone (nothing to add), slow down
        (the caller stops), or this message refused (retried later, the rest goes on)."""
        if answer.error is None:
            return True
        if isinstance(answer.error, ProviderAuthError):
            raise answer.error  # the credentials failed, not this message: the account waits
        if isinstance(answer.error, GmailNotFound):
            clear_fault(self.account, gmail_id)  # deleted in Gmail since it was listed
        elif not isinstance(answer.error, GmailRateLimited):
            self._refused(gmail_id, seen_with, answer.error)
        return False

    def _fetch(self, probes: list[Probe], groups: StoreGroups) -> GmailRateLimited | None:
        cap = store.MAX_FETCH_BYTES  # the one body cap every provider shares
        over_cap = [p for p in probes if p.size > cap]
        solo = [p for p in probes if SOLO_FETCH_BYTES <= p.size <= cap]
        batched = [p for p in probes if p.size < SOLO_FETCH_BYTES and p.size <= cap]
        for group in _batches(batched):
            answers = self.client.batch(
                [
                    (p.gmail_id, self.client.messages.get(userId="me", id=p.gmail_id, format="raw"))
                    for p in group
                ]
            )
            throttled = None
            for probe in group:
                answer = answers.pop(probe.gmail_id)
                if self._usable(probe.gmail_id, answer, probe.seen_with):
                    self._store_raw(probe, answer.response or {}, groups)
                elif isinstance(answer.error, GmailRateLimited):
                    throttled = throttled or answer.error
            if throttled is not None:
                return throttled
        for probe in solo:
            answer = self._one(probe.gmail_id, "raw")
            if self._usable(probe.gmail_id, answer, probe.seen_with):
                self._store_raw(probe, answer.response or {}, groups)
            elif isinstance(answer.error, GmailRateLimited):
                return answer.error
            del answer  # a big message: let it go before the next one arrives
        for probe in over_cap:
            answer = self._one(probe.gmail_id, "full")
            if self._usable(probe.gmail_id, answer, probe.seen_with):
                self._store_text_only(probe, answer.response or {}, cap)
            elif isinstance(answer.error, GmailRateLimited):
                return answer.error
        return None

    def _one(self, gmail_id: str, fmt: str) -> PartResult:
        """One message alone (outside any batch), its error as a result like a batch part's."""
        try:
            return PartResult(
                response=self.client.call(self.client.messages.get(userId="me", id=gmail_id, format=fmt))
            )
        except (GmailNotFound, GmailRateLimited, GmailServerError) as exc:
            return PartResult(error=exc)  # an answer about this message
        except (ProviderTemporaryError, ProviderAuthError):
            raise  # the connection, or the credentials, failed: not this message
        except ProviderError as exc:
            return PartResult(error=exc)  # 403 / 400 for this message

    # --- storing --------------------------------------------------------------------------
    def _ref(self, probe: Probe, resource: dict[str, Any]) -> RefData:
        labels = set(resource.get("labelIds") or probe.labels)
        return RefData(
            key=probe.gmail_id,
            folder=gmail_labels.folder_for(labels, probe.seen_with),
            thread_id=str(resource.get("threadId") or ""),
        )

    def _store_raw(self, probe: Probe, resource: dict[str, Any], groups: StoreGroups) -> None:
        """One fetched message into the store's groups (parsed and ingested with its group)."""
        raw = decode_raw(resource.pop("raw", None))
        if not raw.strip():
            quarantine(self.account, probe.gmail_id, raw, "Gmail returned the message without its content")
            self.report.quarantined += 1
            return
        labels = set(resource.get("labelIds") or probe.labels)
        if not gmail_labels.is_synced(labels, probe.seen_with):
            return  # moved to Trash or Spam between the two calls
        groups.add(
            RawItem(
                raw,
                self._ref(probe, resource),
                # Gmail knows what was sent from this mailbox (aliases, send-as addresses).
                incoming="SENT" not in labels,
                is_read="UNREAD" not in labels,
                fallback_date=_internal_date(resource.get("internalDate") or probe.internal_date),
            )
        )

    def _store_text_only(self, probe: Probe, resource: dict[str, Any], cap: int) -> None:
        """Above the body cap: the headers and the text parts Gmail sends inline, and every
        attachment listed from the part tree (its attachmentId and size, never its data);
        each is fetched with ``messages.attachments.get`` when first opened."""
        labels = set(resource.get("labelIds") or probe.labels)
        if not gmail_labels.is_synced(labels, probe.seen_with):
            return  # moved to Trash or Spam between the two calls
        raw, attachments, texts = text_only_message(resource.pop("payload", None) or {})
        outcome = store.store_too_large(
            self.account,
            raw,
            self._ref(probe, resource),
            reason=store.too_large_reason(probe.size, "Gmail", text=texts, files=len(attachments), cap=cap),
            attachments=attachments,
            # Gmail knows what was sent from this mailbox (aliases, send-as addresses).
            incoming="SENT" not in labels,
            is_read="UNREAD" not in labels,
            fallback_date=_internal_date(resource.get("internalDate") or probe.internal_date),
        )
        self.report.count(outcome)

    # --- deletions ------------------------------------------------------------------------
    def _delete(self, keys: list[str], *, guard: bool) -> None:
        present = sorted(existing_values(ProviderRef.objects.filter(account_id=self.account.pk), "key", keys))
        if not present:
            return
        if guard and exceeds_mass_delete_guard(self.account, len(present)):
            # Held, and the cursor moves on: once the user has looked at the mailbox and
            # resumed the sync, the next pull checks these again (_recheck_held_deletions).
            pause_and_hold_deletions(self.account, state_folder=CURSOR_FOLDER, keys=present)
            self.report.paused = True
            self.report.notes.append(f"{len(present)} deletions held until the sync is resumed")
            return
        self.report.deleted += apply_external_deletions(self.account, present, where="Gmail")

    def _recheck_held_deletions(self, state: FolderState) -> None:
        """The guard paused the account on these and the user resumed it: whatever is
        still in Gmail's Trash or gone from Gmail now is deleted in the app; a message
        restored meanwhile stays. One Gmail does not answer for is kept and asked about again
        on later pulls (with the reconcile's unconfirmed candidates): one message Gmail keeps
        refusing must not stop the mailbox's sync."""
        held = [str(k) for k in state.extra.get("held_deletions", [])]
        confirmed, unsure = self._confirm_gone(held)
        if confirmed:
            self._delete(confirmed, guard=False)
        state.refresh_from_db(fields=["extra"])
        state.extra = {k: v for k, v in state.extra.items() if k != "held_deletions"}
        if unsure:
            state.extra[RECHECK] = sorted(set(state.extra.get(RECHECK, [])) | set(unsure))
            self.report.notes.append(
                f"Gmail did not answer for {len(unsure)} held deletion(s): kept, checked again next time"
            )
        state.save(update_fields=["extra"])


def _batches(probes: list[Probe]) -> Iterable[list[Probe]]:
    """Groups of at most BATCH_PARTS messages and BATCH_FETCH_BYTES bytes."""
    group: list[Probe] = []
    size = 0
    for probe in probes:
        if group and (size + probe.size > BATCH_FETCH_BYTES or len(group) >= BATCH_PARTS):
            yield group
            group, size = [], 0
        group.append(probe)
        size += probe.size
    if group:
        yield group


_TEXT_TYPES = ("text/plain", "text/html")
_SKIP_HEADERS = re.compile(r"^(content-type|content-transfer-encoding|mime-version)$", re.IGNORECASE)


def text_only_message(payload: dict[str, Any]) -> tuple[bytes, list[dict[str, object]], bool]:
    """An RFC 5322 message rebuilt from Gmail's ``format=full`` tree: the original headers and
    the text parts Gmail sends inline; each attachment (sent by Gmail only as an id) listed
    by name, type, size, inline and Content-ID; and whether any text came. That is what a
    message too large to import whole keeps."""
    texts: list[tuple[str, str]] = []
    attachments: list[dict[str, object]] = []

    def walk(part: dict[str, Any], top: bool = False) -> None:
        children = part.get("parts") or []
        if children:
            for child in children:
                walk(child)
            return
        body = part.get("body") or {}
        mime_type = str(part.get("mimeType") or "")
        # The part's own Content-* headers, read as for a fetched message: the same names
        # (RFC 2231 / 2047), the same inline rule, the same "file or body".
        headers = header_only_part(
            (str(h.get("name") or ""), str(h.get("value") or "")) for h in part.get("headers") or []
        )
        if not is_attachment(headers, top=top) and mime_type in _TEXT_TYPES:
            if "data" in body:
                data = decode_raw(body.get("data"))
                charset = _charset(part.get("headers") or [])
                texts.append((mime_type, data.decode(charset, "replace")))
        elif body.get("attachmentId") or body.get("data") or part.get("filename"):
            listed = describe_attachment(
                headers, imap_section(str(part.get("partId") or "")), _int(body.get("size"))
            )
            if listed["filename"] == "(unnamed)" and part.get("filename"):
                listed["filename"] = str(part["filename"])
            listed["provider_id"] = str(body.get("attachmentId") or "")
            attachments.append(listed)

    walk(payload, top=True)
    lines = [
        f"{h.get('name')}: {h.get('value')}"
        for h in payload.get("headers") or []
        if h.get("name") and not _SKIP_HEADERS.match(str(h.get("name")))
    ]
    boundary = "sales-inbox-text-only"
    out = (
        "\r\n".join(lines)
        + f'\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
    )
    for mime_type, text in texts:
        encoded = base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n")
        out += (
            f"--{boundary}\r\nContent-Type: {mime_type}; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
        )
    out += f"--{boundary}--\r\n"
    return out.encode("utf-8", "replace"), attachments, bool(texts)


def imap_section(part_id: str) -> str:
    """Gmail's partId ("", "1", "1.0": zero-based, "" for a single-part body) as the IMAP
    body section the rest of the app numbers parts by ("1", "2", "2.1")."""
    if not part_id:
        return "1"
    return ".".join(str(int(n) + 1) for n in part_id.split(".") if n.isdigit())


def _charset(headers: list[dict[str, Any]]) -> str:
    for header in headers:
        if str(header.get("name", "")).lower() == "content-type":
            match = re.search(r'charset="?([\w.:-]+)"?', str(header.get("value", "")), re.IGNORECASE)
            if match:
                try:
                    "".encode(match.group(1))
                    return match.group(1)
                except LookupError:
                    break
    return "utf-8"


def _int(value: object) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def _internal_date(value: object) -> datetime | None:
    """Gmail's internalDate (ms since the epoch): the date of a message without a Date header."""
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def decode_raw(value: object) -> bytes:
    text = str(value or "")
    try:
        # Gmail sends base64url; be lenient about missing padding.
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""


def _save_cursor(account: MailAccount, history_id: str) -> None:
    FolderState.objects.update_or_create(
        account=account,
        folder=CURSOR_FOLDER,
        defaults={"cursor": history_id, "updated_at": timezone.now()},
    )
