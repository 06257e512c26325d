"""Gmail → app: the first sync, incremental syncs from the stored historyId, and deletions
on positive evidence only.

* First sync: ``messages.list`` of INBOX and SENT within the account's past-days range
  (``q=after:<epoch>``), then ``messages.get(format="raw")`` in HTTP batches. The
  mailbox's historyId is read *before* listing, so whatever happens during the listing
  is seen again by the next incremental sync (seeing a message twice is harmless).
* Incremental: ``history.list`` from the stored historyId.
  - ``messagesAdded`` (or INBOX/SENT added to a message we do not have) → ingest;
  - TRASH added (and not taken off again in the same stretch) or ``messagesDeleted``
    → delete in the app (decision 1: Trash or gone for good is a delete);
  - INBOX removed (archived in Gmail), any other label → no effect.
* 404 from ``history.list`` (Gmail keeps history for about a week): a full resync that
  only **adds** — nothing is deleted because it is merely missing from a listing.

Provider key = the Gmail message id (stable across label changes), ``thread_id`` =
Gmail's threadId, folder = "INBOX" or "SENT".
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from inbox.models import MailAccount, ProviderRef, Tombstone
from inbox.services import apply_external_deletions
from inbox.types import RefData
from sync.errors import ProviderTemporaryError
from sync.models import FolderState
from sync.providers.base import PullReport
from sync.providers.gmail.client import GmailClient, GmailNotFound
from sync.store import (
    StoreOutcome,
    exceeds_mass_delete_guard,
    existing_values,
    pause_and_hold_deletions,
    quarantine,
    store_raw_message,
)

logger = logging.getLogger(__name__)

CURSOR_FOLDER = ""  # Gmail has one historyId for the whole mailbox
SYNCED_LABELS = ("INBOX", "SENT")
LIST_PAGE_SIZE = 500
HISTORY_PAGE_SIZE = 500
# Raw messages fetched per round: bounded so a first sync of a big mailbox never holds
# more than this many messages in memory (the HTTP batches inside are ≤ 50 each).
FETCH_ROUND = 200


@dataclass
class HistoryDelta:
    """What a stretch of history says, reduced to its final state per message."""

    added: dict[str, set[str]] = field(default_factory=dict)  # id -> labels when it appeared
    in_trash: dict[str, bool] = field(default_factory=dict)  # id -> TRASH at the end?
    deleted: set[str] = field(default_factory=set)
    latest_history_id: str = ""

    def deletions(self) -> list[str]:
        return sorted(self.deleted | {gmail_id for gmail_id, trashed in self.in_trash.items() if trashed})

    def read(self, record: dict[str, object]) -> None:
        for item in _items(record, "messagesAdded"):
            message = item["message"]
            self.added.setdefault(message["id"], set(message.get("labelIds") or []))
        for item in _items(record, "labelsAdded"):
            message, labels = item["message"], set(item.get("labelIds") or [])
            if "TRASH" in labels:
                self.in_trash[message["id"]] = True
            if labels & set(SYNCED_LABELS):
                # Out of Spam, or moved into the Inbox: a message we may not have yet.
                self.added.setdefault(message["id"], labels)
        for item in _items(record, "labelsRemoved"):
            if "TRASH" in (item.get("labelIds") or []):
                self.in_trash[item["message"]["id"]] = False  # restored from the Trash
        for item in _items(record, "messagesDeleted"):
            self.deleted.add(item["message"]["id"])


def _items(record: dict[str, object], key: str) -> list[dict[str, object]]:
    value = record.get(key)
    return value if isinstance(value, list) else []


class GmailPull:
    def __init__(self, account: MailAccount, client: GmailClient) -> None:
        self.account = account
        self.client = client
        self.report = PullReport()

    def run(self) -> PullReport:
        state = FolderState.objects.filter(account=self.account, folder=CURSOR_FOLDER).first()
        if state is not None and state.extra.get("held_deletions"):
            self._recheck_held_deletions(state)
        if state is None or not state.cursor:
            self._full_sync()
            return self.report
        try:
            self._incremental(state)
        except GmailNotFound:
            self.report.notes.append(
                f"Gmail no longer has history back to {state.cursor}: full resync that only adds."
            )
            logger.info("gmail account %s: historyId %s expired, full resync", self.account.pk, state.cursor)
            self._full_sync()
        return self.report

    # --- first sync, or after the history expired ------------------------------------
    def _full_sync(self) -> None:
        users = self.client.users
        history_id = str(self.client.call(users.getProfile(userId="me"))["historyId"])
        days = self.account.sync_past_days or settings.SYNC_PAST_DAYS
        since = int((timezone.now() - timedelta(days=days)).timestamp())
        ids: dict[str, set[str]] = {}
        for label in SYNCED_LABELS:
            page_token = None
            while True:
                page = self.client.call(
                    users.messages().list(
                        userId="me",
                        labelIds=[label],
                        q=f"after:{since}",
                        maxResults=LIST_PAGE_SIZE,
                        pageToken=page_token,
                    )
                )
                for item in page.get("messages", []):
                    ids.setdefault(item["id"], set()).add(label)
                page_token = page.get("nextPageToken")
                if not page_token:
                    break
        self._fetch_and_store(ids)
        _save_cursor(self.account, history_id)

    # --- incremental ------------------------------------------------------------------
    def _incremental(self, state: FolderState) -> None:
        delta = HistoryDelta(latest_history_id=state.cursor)
        page_token = None
        while True:
            page = self.client.call(
                self.client.users.history().list(
                    userId="me",
                    startHistoryId=state.cursor,
                    maxResults=HISTORY_PAGE_SIZE,
                    pageToken=page_token,
                )
            )
            for record in page.get("history", []):
                delta.read(record)
            delta.latest_history_id = str(page.get("historyId") or delta.latest_history_id)
            page_token = page.get("nextPageToken")
            if not page_token:
                break
        gone = set(delta.deletions())
        self._fetch_and_store({k: v for k, v in delta.added.items() if k not in gone})
        if gone:
            self._delete(sorted(gone), guard=True)
        _save_cursor(self.account, delta.latest_history_id)

    # --- fetching and storing ------------------------------------------------------------
    def _fetch_and_store(self, candidates: dict[str, set[str]]) -> None:
        """Fetch and ingest what we do not have yet; skip what was deleted in the app."""
        ids = list(candidates)
        known = existing_values(ProviderRef.objects.filter(account_id=self.account.pk), "key", ids)
        stoned = existing_values(Tombstone.objects.filter(account_id=self.account.pk), "provider_key", ids)
        self.report.duplicates += len(known)
        self.report.tombstoned += len(stoned - known)
        todo = [i for i in ids if i not in known and i not in stoned]
        postponed: ProviderTemporaryError | None = None
        for start in range(0, len(todo), FETCH_ROUND):
            chunk = todo[start : start + FETCH_ROUND]
            answers = self.client.batch(
                [(i, self.client.users.messages().get(userId="me", id=i, format="raw")) for i in chunk]
            )
            for gmail_id in chunk:
                answer = answers[gmail_id]
                if isinstance(answer.error, GmailNotFound):
                    continue  # deleted in Gmail since it was listed: nothing to add
                if isinstance(answer.error, ProviderTemporaryError):
                    postponed = postponed or answer.error
                    continue
                if answer.error is not None:
                    raise answer.error
                self._store(gmail_id, answer.response or {}, candidates[gmail_id])
            if postponed is not None:
                break
        if postponed is not None:
            # What arrived is stored; the cursor stays, so the next pull fetches the rest.
            raise postponed

    def _store(self, gmail_id: str, resource: dict[str, object], seen_with: set[str]) -> None:
        labels = set(resource.get("labelIds") or [])
        if labels & {"TRASH", "SPAM"}:
            return  # already deleted (or spam) in Gmail: importing it would be undone at once
        if not (labels | seen_with) & set(SYNCED_LABELS):
            return  # a draft, chat, or mail filtered past the Inbox: not synced
        folder = "INBOX" if "INBOX" in labels or ("INBOX" in seen_with and "SENT" not in labels) else "SENT"
        ref = RefData(key=gmail_id, folder=folder, thread_id=str(resource.get("threadId") or ""))
        raw = _decode_raw(resource.get("raw"))
        if not raw.strip():
            quarantine(self.account, gmail_id, raw, "Gmail returned the message without its content")
            self.report.quarantined += 1
            return
        outcome = store_raw_message(
            self.account,
            raw,
            ref,
            # Gmail knows what was sent from this mailbox (aliases, send-as addresses).
            incoming="SENT" not in labels,
            is_read="UNREAD" not in labels,
            fallback_date=_internal_date(resource.get("internalDate")),
        )
        if outcome == StoreOutcome.CREATED:
            self.report.created += 1
        elif outcome == StoreOutcome.DUPLICATE:
            self.report.duplicates += 1
        elif outcome == StoreOutcome.TOMBSTONED:
            self.report.tombstoned += 1
        else:
            self.report.quarantined += 1

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
        restored meanwhile stays."""
        held = [str(k) for k in state.extra.get("held_deletions", [])]
        answers = self.client.batch(
            [(k, self.client.users.messages().get(userId="me", id=k, format="minimal")) for k in held]
        )
        still_deleted = []
        for key in held:
            answer = answers[key]
            if isinstance(answer.error, GmailNotFound):
                still_deleted.append(key)
            elif answer.error is not None:
                raise answer.error  # checked again on the next pull
            elif "TRASH" in ((answer.response or {}).get("labelIds") or []):
                still_deleted.append(key)
        if still_deleted:
            self._delete(still_deleted, guard=False)
        state.extra = {k: v for k, v in state.extra.items() if k != "held_deletions"}
        state.save(update_fields=["extra"])


def _internal_date(value: object) -> datetime | None:
    """Gmail's internalDate (ms since the epoch): the date of a message without a Date header."""
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _decode_raw(value: object) -> bytes:
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
