"""Outlook → app: per-folder ``delta`` rounds, imports, and deletions on positive evidence.

Folders read: Inbox and Sent Items (imported), Archive and Deleted Items (only to learn
where known messages went). Each folder has its own FolderState row holding its deltaLink.

* First round of a folder (no deltaLink): Graph lists what the folder holds within the
  account's past-days range (``$filter=receivedDateTime ge …``, kept for later rounds so
  every message we import stays inside what Graph tracks). Inbox and Sent Items messages
  are fetched as MIME (``/messages/{id}/$value``) and ingested; nothing is ever deleted
  because of a first round.
* Later rounds: new messages in Inbox / Sent Items are ingested. Graph reports a message
  that left a folder as ``@removed`` whether it was moved or deleted, so a known message
  that left a folder is resolved: seen this pull in Deleted Items → deleted in the app;
  seen in another folder → no effect (its reference now points there); seen nowhere →
  ``GET`` it: 404 (deleted for good) or now in Deleted Items → deleted in the app, anywhere
  else → no effect. A known message that newly shows up in Deleted Items (moved there from
  any folder) is deleted in the app too (decision 1).
* 410 (the delta state expired): that folder starts over with a first round — a resync that
  only adds.
* Too many deletions at once (MASS_DELETE_*): the account is paused and the deletions are
  held; after the user resumes, the held messages are checked again and what is still
  deleted at Microsoft is deleted in the app.

Provider key = the immutable id (stable across moves); ``thread_id`` = conversationId;
``folder`` = the well-known folder name, or the folder id of any other folder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests
from django.utils import timezone

from inbox.models import MailAccount, ProviderRef, Tombstone
from inbox.services import apply_external_deletions
from inbox.services.mailboxes import report_initial_sync_progress
from inbox.services.refs import relocate_refs
from inbox.types import RefData
from sync.errors import ProviderPermanentError, ProviderTemporaryError
from sync.models import FolderState
from sync.providers.base import PullReport
from sync.providers.graph_client import DeltaExpired, GraphNotFound, SubRequest, quote_id
from sync.providers.outlook import FOLDER_ROLES
from sync.store import (
    StoreOutcome,
    exceeds_mass_delete_guard,
    existing_values,
    pause_and_hold_deletions,
    store_raw_message,
)

if TYPE_CHECKING:
    from sync.providers.outlook import OutlookAdapter

logger = logging.getLogger(__name__)

DELTA_FOLDERS = ("inbox", "sentitems", "archive", "deleteditems")
# Folder -> direction: Sent Items is outgoing whatever From says; in the Inbox the From
# address decides (mail to yourself).
IMPORTED: dict[str, bool | None] = {"inbox": None, "sentitems": False}
DELTA_SELECT = "id,parentFolderId,receivedDateTime,conversationId,isRead"
DELTA_PAGE_SIZE = 100
# Bounded work per pull: a big first sync continues where it stopped on the next pull
# (its folder's deltaLink is only stored once the folder is done).
MAX_IMPORTS_PER_PULL = 500
PROGRESS_EVERY = 25
# A message larger than this is imported from its headers only (Outlook allows 150 MB).
MAX_MIME_BYTES = 40 * 1024 * 1024
MAILBOX_ROW = ""  # FolderState row for mailbox-wide state (held deletions)


@dataclass
class Round:
    folder: str
    items: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    delta_link: str = ""
    first: bool = True  # a first round (or a resync): it only adds
    complete: bool = True  # every import of this round is done: the deltaLink may be stored


def pull_mailbox(adapter: OutlookAdapter) -> PullReport:
    return OutlookPull(adapter).run()


class OutlookPull:
    def __init__(self, adapter: OutlookAdapter) -> None:
        self.adapter = adapter
        self.account: MailAccount = adapter.account
        self.graph = adapter.graph
        self.report = PullReport()

    def run(self) -> PullReport:
        self.folders = self.adapter.folders()
        self.states = {
            s.folder: s
            for s in FolderState.objects.filter(account_id=self.account.pk, folder__in=DELTA_FOLDERS)
        }
        self._recheck_held_deletions()
        first_sync = not (self.states.get("inbox") and self.states["inbox"].cursor)
        rounds = [self._read(name) for name in DELTA_FOLDERS if self.folders.has(name)]
        self._import(rounds, first_sync=first_sync)
        self._resolve(rounds)
        for round_ in rounds:
            if round_.complete:
                self._save_cursor(round_)
        if first_sync and all(r.complete for r in rounds):
            report_initial_sync_progress(
                self.account, done=self._progress_done, total=self._progress_total, finished=True
            )
        return self.report

    # --- reading delta rounds ------------------------------------------------------------
    def _state(self, name: str) -> FolderState:
        state = self.states.get(name)
        if state is None:
            state = FolderState.objects.create(account=self.account, folder=name, role=FOLDER_ROLES[name])
            self.states[name] = state
        return state

    def _since(self, state: FolderState) -> str:
        since = str(state.extra.get("since") or "")
        if not since:
            start = timezone.now() - timedelta(days=self.account.sync_past_days)
            since = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            state.extra = {**state.extra, "since": since}
        return since

    def _read(self, name: str) -> Round:
        state = self._state(name)
        cursor = state.cursor
        if cursor and not self.graph.owns(cursor):
            # GRAPH_API_ENDPOINT changed: never send the token to the old host; start over.
            self.report.notes.append(f"{name}: the stored delta link points elsewhere; resyncing")
            cursor = ""
        try:
            return self._read_round(name, state, cursor)
        except DeltaExpired:
            self.report.notes.append(f"{name}: Graph expired the delta state (410); resync that only adds")
            return self._read_round(name, state, "")

    def _read_round(self, name: str, state: FolderState, cursor: str) -> Round:
        round_ = Round(name, first=not cursor)
        prefer = [f"odata.maxpagesize={DELTA_PAGE_SIZE}"]
        if cursor:
            url, params = cursor, None
        else:
            url = self.graph.url(f"/mailFolders/{name}/messages/delta")
            params = {"$select": DELTA_SELECT, "$filter": f"receivedDateTime ge {self._since(state)}"}
        while True:
            page = self.graph.get_json(url, params=params, prefer=prefer)
            for item in page.get("value", []):
                if "@removed" in item:
                    round_.removed.append(str(item["id"]))
                else:
                    round_.items.append(item)
            next_link = page.get("@odata.nextLink")
            if next_link:
                if not self.graph.owns(next_link):
                    raise ProviderPermanentError(f"Graph sent a next link to another host: {next_link[:80]}")
                url, params = next_link, None
                continue
            round_.delta_link = str(page.get("@odata.deltaLink") or "")
            return round_

    def _save_cursor(self, round_: Round) -> None:
        if not round_.delta_link:
            return
        state = self._state(round_.folder)
        state.cursor = round_.delta_link
        state.updated_at = timezone.now()
        state.save()

    # --- imports ------------------------------------------------------------------------------
    def _import(self, rounds: list[Round], *, first_sync: bool) -> None:
        candidates: dict[str, tuple[Round, dict[str, Any]]] = {}
        for round_ in rounds:
            if round_.folder in IMPORTED:
                for item in round_.items:
                    candidates[str(item["id"])] = (round_, item)
        keys = list(candidates)
        known = existing_values(ProviderRef.objects.filter(account_id=self.account.pk), "key", keys)
        stoned = existing_values(Tombstone.objects.filter(account_id=self.account.pk), "provider_key", keys)
        self.report.duplicates += len(known)
        self.report.tombstoned += len(stoned - known)
        todo = [k for k in keys if k not in known and k not in stoned]
        if len(todo) > MAX_IMPORTS_PER_PULL:
            for key in todo[MAX_IMPORTS_PER_PULL:]:
                candidates[key][0].complete = False
            todo = todo[:MAX_IMPORTS_PER_PULL]
            self.report.notes.append(f"imported {MAX_IMPORTS_PER_PULL} messages; the rest follow next sync")
        self._progress_done, self._progress_total = 0, len(todo)
        for index, key in enumerate(todo, start=1):
            round_, item = candidates[key]
            try:
                response = self.graph.request(
                    "GET",
                    self.graph.url(f"/messages/{quote_id(key)}/$value"),
                    what="message MIME",
                    stream=True,
                )
            except GraphNotFound:
                continue  # deleted since it was listed: nothing to add
            raw, complete = _read_capped(response, MAX_MIME_BYTES)
            ref = RefData(
                key=key, folder=round_.folder, thread_id=str(item.get("conversationId") or "")[:200]
            )
            too_large = f"larger than {MAX_MIME_BYTES // (1024 * 1024)} MB: imported from its headers only"
            outcome = store_raw_message(
                self.account,
                raw if complete else _header_block(raw),
                ref,
                incoming=IMPORTED[round_.folder],
                is_read=bool(item.get("isRead")),
                fallback_date=_received(item),
                headers_only_reason="" if complete else too_large,
            )
            self._count(outcome)
            self._progress_done = index
            if first_sync and index % PROGRESS_EVERY == 0:
                report_initial_sync_progress(self.account, done=index, total=len(todo))

    def _count(self, outcome: StoreOutcome) -> None:
        if outcome == StoreOutcome.CREATED:
            self.report.created += 1
        elif outcome == StoreOutcome.DUPLICATE:
            self.report.duplicates += 1
        elif outcome == StoreOutcome.TOMBSTONED:
            self.report.tombstoned += 1
        else:
            self.report.quarantined += 1

    # --- where known messages went ----------------------------------------------------------
    def _resolve(self, rounds: list[Round]) -> None:
        location: dict[str, str] = {}
        for round_ in rounds:
            for item in round_.items:
                location[str(item["id"])] = round_.folder
        removed = {key for r in rounds if not r.first for key in r.removed}
        arrived_in_trash = {
            str(item["id"]) for r in rounds if r.folder == "deleteditems" and not r.first for item in r.items
        }
        refs = dict(_pairs(ProviderRef.objects.filter(account_id=self.account.pk), set(location) | removed))
        deleted: set[str] = {key for key in arrived_in_trash if key in refs}
        moved: dict[str, str] = {}
        unknown_fate: list[str] = []
        for key in removed:
            if key not in refs or key in deleted:
                continue
            if key in location:
                if location[key] == "deleteditems":
                    deleted.add(key)
                else:
                    moved[key] = location[key]
            else:
                unknown_fate.append(key)
        for key, folder in location.items():
            if key in refs and key not in deleted and refs[key] != folder:
                moved.setdefault(key, folder)
        # Left a folder for one we do not read (or for good): ask Graph where it is.
        parts = [
            SubRequest(str(i), "GET", self.graph.path(f"/messages/{quote_id(key)}?$select=id,parentFolderId"))
            for i, key in enumerate(sorted(unknown_fate))
        ]
        ordered = sorted(unknown_fate)
        for part, answer in self.graph.batched(parts):
            key = ordered[int(part.id)]
            if answer.ok:
                folder = self.folders.name_of(str((answer.body or {}).get("parentFolderId", "")))
                if folder == "deleteditems":
                    deleted.add(key)
                elif refs.get(key) != folder:
                    moved[key] = folder
            elif answer.status == 404:
                deleted.add(key)
            else:
                raise answer.error("checking where a message went")
        if moved:
            relocate_refs(
                self.account, {key: {"key": key, "folder": folder} for key, folder in moved.items()}
            )
        if deleted:
            self._delete(sorted(deleted))

    def _delete(self, keys: list[str], *, guard: bool = True) -> None:
        if guard and exceeds_mass_delete_guard(self.account, len(keys)):
            pause_and_hold_deletions(self.account, state_folder=MAILBOX_ROW, keys=keys)
            self.report.paused = True
            self.report.notes.append(f"{len(keys)} deletions held until the sync is resumed")
            return
        self.report.deleted += apply_external_deletions(self.account, keys, where="Outlook")

    def _recheck_held_deletions(self) -> None:
        """The account was paused by the guard and the user resumed it: whatever is still
        deleted at Microsoft now is deleted in the app (the user looked and agreed)."""
        state = FolderState.objects.filter(account=self.account, folder=MAILBOX_ROW).first()
        held = list(state.extra.get("held_deletions", [])) if state else []
        if not held or state is None:
            return
        parts = [
            SubRequest(str(i), "GET", self.graph.path(f"/messages/{quote_id(key)}?$select=id,parentFolderId"))
            for i, key in enumerate(held)
        ]
        still_deleted, moved = [], {}
        for part, answer in self.graph.batched(parts):
            key = held[int(part.id)]
            if answer.status == 404:
                still_deleted.append(key)
            elif answer.ok:
                folder = self.folders.name_of(str((answer.body or {}).get("parentFolderId", "")))
                if folder == "deleteditems":
                    still_deleted.append(key)
                else:
                    moved[key] = folder
            else:
                raise answer.error("re-checking held deletions")
        if moved:
            relocate_refs(
                self.account, {key: {"key": key, "folder": folder} for key, folder in moved.items()}
            )
        if still_deleted:
            self._delete(still_deleted, guard=False)
        state.extra = {k: v for k, v in state.extra.items() if k != "held_deletions"}
        state.save(update_fields=["extra"])


def _read_capped(response: requests.Response, limit: int) -> tuple[bytes, bool]:
    """The body, or its first ``limit`` bytes and False when it is larger."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(chunk_size=256 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks)[:limit], False
    except requests.RequestException as exc:
        raise ProviderTemporaryError(f"Graph dropped a message download: {exc}") from exc
    finally:
        response.close()
    return b"".join(chunks), True


def _header_block(raw: bytes) -> bytes:
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(separator)
        if end != -1:
            return raw[: end + len(separator)]
    return raw


def _received(item: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(item.get("receivedDateTime", "")).replace("Z", "+00:00"))
    except ValueError:
        return None


def _pairs(queryset, keys: Iterable[str]) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    keys = list(keys)
    out: list[tuple[str, str]] = []
    for start in range(0, len(keys), 1000):
        out += list(queryset.filter(key__in=keys[start : start + 1000]).values_list("key", "folder"))
    return out
