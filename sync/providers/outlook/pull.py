"""Outlook → app: per-folder ``delta`` rounds, imports, and deletions on positive evidence.

Folders read: Inbox and Sent Items (imported), Archive and Deleted Items (only to learn
where known messages went). Drafts and Junk Email are never read: drafts and spam are not
mail the app imports (and a draft anywhere else is skipped by ``isDraft``). Each folder has
its own FolderState row holding its deltaLink.

* First round of a folder (no deltaLink): Graph lists what the folder holds within the
  account's past-days range (``$filter=receivedDateTime ge …``, kept for later rounds so
  every message we import stays inside what Graph tracks). Inbox and Sent Items messages
  are fetched as MIME (``/messages/{id}/$value``, streamed, capped at the body cap every
  provider shares) and ingested; nothing is ever deleted because of a first round.
* The deltaLink is stored after every completed page run, whatever its size: Exchange keeps
  only the last few delta generations, so a pull that kept an older link would find it
  expired (410) a few pulls later. Messages a pull had no time for wait in the folder's
  backlog (FolderState.extra) and are imported by the next pulls.
* One bad message never stalls the mailbox: a ``$value`` (or "where did it go") request that
  fails for one message is recorded with ``sync.faults.record_fetch_failure`` (retrying
  with backoff, then quarantined, both on the status page); the pull goes on and later pulls
  ask for due retries again.
* Later rounds: new messages in Inbox / Sent Items are ingested. Graph reports a message
  that left a folder as ``@removed`` whether it was moved or deleted, so a known message
  that left a folder is resolved — and deleted in the app only on evidence: it is now in
  Deleted Items, or in Recoverable Items Deletions (Shift+Delete, or Deleted Items emptied).
  Anywhere else → no effect (its reference now points there). A bare 404 is not evidence —
  an item moved to the online archive mailbox gets a new id, even an immutable one — so it
  is recorded and treated as moved. A known message that newly shows up in Deleted Items
  is deleted in the app too (decision 1).
* Read state: a later round reports a message again when its ``isRead`` changed (read or
  unread in Outlook); the conversations of known messages follow (``apply_external_read_state``).
* What a pull learnt about known messages is not lost when it stops half-way (throttled, a
  failed request, a crash) after storing its deltaLinks: the known messages whose fate is
  still to be decided, and a folder still to be reconciled after a 410, are stored with the
  links (``UNRESOLVED``, ``RECONCILE``) and acted on by the next pull.
* 410 (the delta state expired, or a link from before a long pause): that folder starts
  over with a first round that adds, followed by a reconcile: the ids the folder holds are
  listed (ids only), known messages of the folder that are not listed are candidates, and
  each is confirmed where it went before anything is deleted.
* A 403 for one folder (a delegate without access to it) fails that folder, not the pull.
* Too many deletions at once (MASS_DELETE_*): the account is paused and the deletions are
  held; after the user resumes, the held messages are checked again and what is still
  deleted at Microsoft is deleted in the app.

Provider key = the immutable id (stable across moves); ``thread_id`` = conversationId;
``folder`` = the well-known folder name, or the folder id of any other folder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.db import transaction
from django.utils import timezone

from inbox.models import MailAccount, ProviderRef, Tombstone
from inbox.services import apply_external_deletions, apply_external_read_state
from inbox.services.mailboxes import report_initial_sync_progress
from inbox.services.refs import relocate_refs
from inbox.types import RefData
from sync.errors import ProviderPermanentError, ProviderTemporaryError
from sync.faults import clear_fault, fetch_retries_due, record_fetch_failure, retrying_keys
from sync.mime import MAX_ATTACHMENTS, clean_text
from sync.models import FolderState
from sync.providers.base import PullReport
from sync.providers.outlook.client import (
    DeltaExpired,
    GraphClient,
    GraphForbidden,
    GraphNotFound,
    GraphThrottled,
    SubRequest,
    SubResponse,
    quote_id,
)
from sync.providers.outlook.folders import FOLDER_ROLES, FolderMap
from sync.store import (
    MAX_FETCH_BYTES,
    RawItem,
    StoreGroups,
    StoreOutcome,
    exceeds_mass_delete_guard,
    existing_values,
    pause_and_hold_deletions,
    store_too_large,
    too_large_reason,
)

logger = logging.getLogger(__name__)

DELTA_FOLDERS = ("inbox", "sentitems", "archive", "deleteditems")
# Folder -> direction: Sent Items is outgoing whatever From says; in the Inbox the From
# address decides (mail to yourself).
IMPORTED: dict[str, bool | None] = {"inbox": None, "sentitems": False}
DELTA_SELECT = "id,parentFolderId,receivedDateTime,conversationId,isRead,isDraft"
DELTA_PAGE_SIZE = 100
LIST_PAGE_SIZE = 1000
# Bounded work per pull: what a pull has no time for waits in its folder's backlog.
MAX_IMPORTS_PER_PULL = 500
# Downloaded messages are stored in groups (sync.store.StoreGroups: one bulk ingest and one
# commit, parsed in the worker pool while the next downloads run) of this many messages or
# bytes; the progress bar moves as each group is stored.
STORE_GROUP = 100
STORE_GROUP_BYTES = 8 * 1024 * 1024
DOWNLOAD_CHUNK = 256 * 1024
MAILBOX_ROW = ""  # FolderState row for mailbox-wide state (held deletions, vanished ids)
# Ids Graph answered 404 for (kept for a look, newest last): no evidence of a delete.
VANISHED_KEPT = 200
# Keys of "where did it go" retries (record_fetch_failure) carry this locator.
RESOLVE = "resolve"
# FolderState.extra keys kept with the deltaLinks until acted on (see _keep_evidence): known
# messages whose fate is not decided yet (mailbox row), a folder still to reconcile (its row).
UNRESOLVED = "unresolved"
RECONCILE = "reconcile"
# What a listing of an over-cap message's attachments asks for: everything but the bytes.
ATTACHMENT_SELECT = "id,name,contentType,size,isInline,contentId"


@dataclass
class Round:
    folder: str
    items: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    delta_link: str = ""
    first: bool = True  # a first round (or a resync): it only adds
    lost_cursor: bool = False  # a resync after 410: its folder is reconciled


@dataclass
class Candidate:
    key: str
    folder: str
    item: dict[str, Any]


class OutlookPull:
    def __init__(self, account: MailAccount, graph: GraphClient, folders: FolderMap) -> None:
        self.account = account
        self.graph = graph
        self.folders = folders
        self.report = PullReport()

    def run(self) -> PullReport:
        self.states = {
            s.folder: s
            for s in FolderState.objects.filter(account_id=self.account.pk, folder__in=DELTA_FOLDERS)
        }
        self._recheck_held_deletions()
        # The initial sync lasts until its backlog is imported, over as many pulls as it takes.
        first_sync = self.account.initial_sync_finished_at is None
        rounds: list[Round] = []
        for name in DELTA_FOLDERS:
            if not self.folders.has(name):
                continue
            try:
                rounds.append(self._read(name))
            except GraphForbidden as exc:
                # Permissions are not authentication: this folder is not read, the rest is.
                self.report.notes.append(f"{name}: access denied, not read this time ({exc})")
        if not rounds:
            # Not one folder may be read (a delegate whose access to the mailbox was taken
            # away): an error the status page shows — still not a sign-in problem.
            raise GraphForbidden(
                "Microsoft denied access to every folder of this mailbox; ask its owner to share it again.",
                status=403,
            )
        # Every completed page run's deltaLink is kept at once (see the module docstring),
        # saved together with everything not imported yet (the folder's backlog) and what
        # the rounds said about known messages (and which folders lost their cursor), until
        # acted on: a pull that stops half-way (throttled, a crash) loses nothing.
        todo, later = self._queue(rounds)
        self._set_backlog(rounds, [*todo, *later])
        with transaction.atomic():
            self._keep_evidence(rounds)
            for round_ in rounds:
                self._save_cursor(round_)
        self._import(todo, first_sync=first_sync)
        self._set_backlog(rounds, later, save=True)
        self._mirror_read_state(rounds)
        self._resolve(rounds)
        for round_ in rounds:
            state = self._state(round_.folder)
            if state.extra.get(RECONCILE):
                self._reconcile(round_.folder, rounds)
                state.extra = {k: v for k, v in state.extra.items() if k != RECONCILE}
                state.save(update_fields=["extra"])
        if first_sync and not any(self._state(r.folder).extra.get("backlog") for r in rounds):
            report_initial_sync_progress(
                self.account, done=self._progress_done, total=self._progress_total, finished=True
            )
        return self.report

    # --- reading delta rounds ------------------------------------------------------------
    def _state(self, name: str) -> FolderState:
        state = self.states.get(name)
        if state is None:
            state, _ = FolderState.objects.get_or_create(
                account=self.account, folder=name, defaults={"role": FOLDER_ROLES.get(name, "")}
            )
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
            self.report.notes.append(f"{name}: Graph expired the delta state (410); resync and reconcile")
            round_ = self._read_round(name, state, "")
            round_.lost_cursor = True
            return round_

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
                url, params = self._own(next_link), None
                continue
            round_.delta_link = str(page.get("@odata.deltaLink") or "")
            return round_

    def _own(self, link: str) -> str:
        if not self.graph.owns(link):
            raise ProviderPermanentError(f"Graph sent a next link to another host: {link[:80]}")
        return link

    def _keep_evidence(self, rounds: list[Round]) -> None:
        """Before the deltaLinks move on: the known messages whose fate ``_resolve`` must
        decide (they left a folder, or showed up somewhere else than the app has them), and
        the folders a lost cursor left to reconcile. A pull stopped before acting on them
        (throttled, a failed request, a crash) leaves them to the next one."""
        location = {str(item["id"]): r.folder for r in rounds for item in r.items}
        removed = {key for r in rounds if not r.first for key in r.removed}
        refs = dict(_pairs(ProviderRef.objects.filter(account_id=self.account.pk), set(location) | removed))
        touched = {key for key in removed if key in refs} | {
            key
            for key, folder in location.items()
            if key in refs and (refs[key] != folder or self.folders.is_deleted(folder))
        }
        if touched:
            state = self._fresh_mailbox_row()
            state.extra = {**state.extra, UNRESOLVED: sorted(set(state.extra.get(UNRESOLVED, [])) | touched)}
            state.save(update_fields=["extra"])
        for round_ in rounds:
            if round_.lost_cursor:
                state = self._state(round_.folder)
                state.extra = {**state.extra, RECONCILE: True}  # saved with its new cursor

    def _save_cursor(self, round_: Round) -> None:
        state = self._state(round_.folder)
        if round_.delta_link:
            state.cursor = round_.delta_link
        state.updated_at = timezone.now()
        state.save()

    # --- imports ------------------------------------------------------------------------------
    def _queue(self, rounds: list[Round]) -> tuple[list[Candidate], list[Candidate]]:
        """This pull's new Inbox / Sent Items messages plus earlier pulls' backlog, as one
        queue: (what this pull imports, what waits for the next pulls)."""
        queue: dict[str, Candidate] = {}
        for round_ in rounds:
            if round_.folder not in IMPORTED:
                continue
            state = self._state(round_.folder)
            for item in [*state.extra.get("backlog", []), *round_.items]:
                if item.get("isDraft"):
                    continue  # a draft is not mail (Drafts is never read; this is a stray one)
                queue[str(item["id"])] = Candidate(str(item["id"]), round_.folder, _slim(item))
        for round_ in rounds:
            # A message that left an imported folder meanwhile is no longer its to import.
            for key in round_.removed:
                if key in queue and queue[key].folder == round_.folder:
                    del queue[key]
        keys = list(queue)
        known = existing_values(ProviderRef.objects.filter(account_id=self.account.pk), "key", keys)
        stoned = existing_values(Tombstone.objects.filter(account_id=self.account.pk), "provider_key", keys)
        waiting = retrying_keys(self.account)
        self.report.duplicates += len(known)
        self.report.tombstoned += len(stoned - known)
        todo = [queue[k] for k in keys if k not in known and k not in stoned and k not in waiting]
        now_items, later = todo[:MAX_IMPORTS_PER_PULL], todo[MAX_IMPORTS_PER_PULL:]
        if later:
            self.report.notes.append(
                f"imported {MAX_IMPORTS_PER_PULL} messages; {len(later)} follow next sync"
            )
        return now_items, later

    def _set_backlog(self, rounds: list[Round], waiting: list[Candidate], *, save: bool = False) -> None:
        for round_ in rounds:
            if round_.folder in IMPORTED:
                state = self._state(round_.folder)
                state.extra = {
                    **state.extra,
                    "backlog": [c.item for c in waiting if c.folder == round_.folder],
                }
                if save:
                    state.save(update_fields=["extra"])

    def _import(self, todo: list[Candidate], *, first_sync: bool) -> None:
        retries = [
            fault
            for fault in fetch_retries_due(self.account)
            if (fault.locator or {}).get("kind") != RESOLVE
            and fault.provider_key not in {c.key for c in todo}
        ]
        for fault in retries:
            locator = fault.locator or {}
            todo.append(Candidate(fault.provider_key, str(locator.get("folder") or "inbox"), dict(locator)))
        self._progress_done, self._progress_total = 0, len(todo)
        position = {c.key: index for index, c in enumerate(todo, start=1)}

        def stored(items: Sequence[RawItem], outcomes: Sequence[StoreOutcome]) -> None:
            for outcome in outcomes:
                self.report.count(outcome)
            # Every candidate up to this group's last one is done (stored, failed or too large:
            # those are handled at once, and earlier groups were stored first).
            self._progress_done = max(self._progress_done, max(position[i.ref.key] for i in items))
            if first_sync:
                report_initial_sync_progress(self.account, done=self._progress_done, total=len(todo))

        groups = StoreGroups(self.account, count=STORE_GROUP, max_bytes=STORE_GROUP_BYTES, on_stored=stored)
        try:
            for candidate in todo:
                self._import_one(candidate, groups)
        finally:
            # Done, throttled or failed: what was downloaded is stored, not asked for again.
            groups.flush()
        self._progress_done = len(todo)
        if first_sync and todo:
            report_initial_sync_progress(self.account, done=len(todo), total=len(todo))

    def _import_one(self, candidate: Candidate, groups: StoreGroups) -> None:
        key, item = candidate.key, candidate.item
        folder = candidate.folder if candidate.folder in IMPORTED else "inbox"
        ref = RefData(key=key, folder=folder, thread_id=str(item.get("conversationId") or "")[:200])
        locator = {**item, "folder": folder}
        try:
            with self.graph.stream(
                self.graph.url(f"/messages/{quote_id(key)}/$value"), what="message MIME"
            ) as response:
                raw, complete = _read_capped(response, MAX_FETCH_BYTES)
            if not complete:
                del raw  # the capped prefix is not needed: Graph gives headers and text alone
                self.report.count(self._store_too_large(key, ref, folder, item))
                return
        except GraphNotFound:
            # Gone (or moved out of the mailbox) since it was listed: nothing to add.
            clear_fault(self.account, key)
            return
        except GraphThrottled:
            raise  # the whole mailbox waits (its backlog is saved), not this one message
        except ProviderTemporaryError as exc:
            self._fetch_failed(key, f"Graph did not return the message: {exc}", locator)
            return
        except (ProviderPermanentError, requests.RequestException) as exc:
            self._fetch_failed(key, f"Graph refused the message: {exc}", locator)
            return
        # Parsed and ingested with its group; counted when the group is stored.
        groups.add(
            RawItem(
                raw,
                ref,
                incoming=IMPORTED[folder],
                is_read=bool(item.get("isRead")),
                fallback_date=_received(item),
            )
        )

    def _store_too_large(self, key: str, ref: RefData, folder: str, item: dict[str, Any]) -> StoreOutcome:
        """Above the body cap: the headers and the text, which Graph gives without the rest,
        and the attachments as Graph lists them without their bytes (``$select`` leaves
        ``contentBytes`` out); each is fetched by its id (``/attachments/{id}/$value``) when
        first opened."""
        body = self.graph.get_json(
            self.graph.url(f"/messages/{quote_id(key)}"),
            params={"$select": "internetMessageHeaders,body"},
            prefer=['outlook.body-content-type="text"'],
        )
        raw = _headers_and_text(body)
        text = bool(str((body.get("body") or {}).get("content") or "").strip())
        del body
        files = self._listed_attachments(key)
        return store_too_large(
            self.account,
            raw,
            ref,
            reason=too_large_reason(None, "Outlook", text=text, files=len(files), cap=MAX_FETCH_BYTES),
            attachments=files,
            incoming=IMPORTED[folder],
            is_read=bool(item.get("isRead")),
            fallback_date=_received(item),
        )

    def _listed_attachments(self, key: str) -> list[dict[str, object]]:
        """``GET /messages/{id}/attachments?$select=…`` (following next links): name, type,
        size, inline and Content-ID of each, and Graph's id for the download."""
        url: str | None = self.graph.url(f"/messages/{quote_id(key)}/attachments")
        params: dict[str, str] | None = {"$select": ATTACHMENT_SELECT}
        found: list[dict[str, object]] = []
        while url and len(found) <= MAX_ATTACHMENTS:
            page = self.graph.get_json(url, params=params)
            found += [listed for resource in page.get("value") or [] if (listed := _listed(resource))]
            link = str(page.get("@odata.nextLink") or "")
            url, params = (link, None) if link and self.graph.owns(link) else (None, None)
        return found[:MAX_ATTACHMENTS]

    def _fetch_failed(self, key: str, reason: str, locator: dict[str, Any]) -> None:
        fault = record_fetch_failure(self.account, key, reason, locator=locator)
        self.report.notes.append(f"{key[:16]}…: {reason} ({fault.state})")

    # --- read state from other clients --------------------------------------------------------
    def _mirror_read_state(self, rounds: list[Round]) -> None:
        """Read or unread in Outlook (or any other client): delta reports a message again when
        its ``isRead`` changed, so each reported known message's read state is mirrored. A
        first round lists what a folder holds, not what changed: only a resync after 410
        (whose state may have drifted meanwhile) is used from those."""
        seen = {
            str(item["id"]): bool(item["isRead"])
            for round_ in rounds
            if not round_.first or round_.lost_cursor
            for item in round_.items
            if "isRead" in item
        }
        if seen:
            apply_external_read_state(self.account, seen)

    # --- where known messages went ----------------------------------------------------------
    def _resolve(self, rounds: list[Round]) -> None:
        location: dict[str, str] = {}
        for round_ in rounds:
            for item in round_.items:
                location[str(item["id"])] = round_.folder
        removed = {key for r in rounds if not r.first for key in r.removed}
        # Known messages an earlier, interrupted pull saw move: where are they now?
        mailbox_state = self._mailbox_state()
        kept = [str(key) for key in mailbox_state.extra.get(UNRESOLVED, [])] if mailbox_state else []
        removed |= set(kept)
        arrived_in_trash = {
            str(item["id"]) for r in rounds if r.folder == "deleteditems" and not r.first for item in r.items
        }
        due = [
            f.provider_key
            for f in fetch_retries_due(self.account)
            if (f.locator or {}).get("kind") == RESOLVE
        ]
        refs = dict(
            _pairs(ProviderRef.objects.filter(account_id=self.account.pk), set(location) | removed | set(due))
        )
        for key in due:
            if key not in refs:
                clear_fault(self.account, key)  # deleted in the app meanwhile: nothing to resolve
        deleted: set[str] = {key for key in arrived_in_trash if key in refs}
        # Found in Deleted Items by any round, a resync after a lost cursor included: evidence.
        deleted |= {
            key for key, folder in location.items() if key in refs and self.folders.is_deleted(folder)
        }
        moved: dict[str, str] = {}
        unknown_fate: set[str] = {key for key in due if key in refs}
        for key in removed:
            if key not in refs or key in deleted:
                continue
            if key in location:
                if self.folders.is_deleted(location[key]):
                    deleted.add(key)
                else:
                    moved[key] = location[key]
            else:
                unknown_fate.add(key)
        for key, folder in location.items():
            if key in refs and key not in deleted and refs[key] != folder:
                moved.setdefault(key, folder)
        # Left a folder for one we do not read (or for good): ask Graph where it is.
        confirmed_deleted, elsewhere = self._confirm(sorted(unknown_fate - deleted), refs)
        deleted |= confirmed_deleted
        moved.update(elsewhere)
        if moved:
            relocate_refs(
                self.account, {key: {"key": key, "folder": folder} for key, folder in moved.items()}
            )
        if deleted:
            self._delete(sorted(deleted))
        if kept and mailbox_state is not None:
            mailbox_state.refresh_from_db(fields=["extra"])
            mailbox_state.extra = {k: v for k, v in mailbox_state.extra.items() if k != UNRESOLVED}
            mailbox_state.save(update_fields=["extra"])

    def _mailbox_state(self) -> FolderState | None:
        """The mailbox-wide row, if there is one (without creating it)."""
        if MAILBOX_ROW not in self.states:
            state = FolderState.objects.filter(account_id=self.account.pk, folder=MAILBOX_ROW).first()
            if state is None:
                return None
            self.states[MAILBOX_ROW] = state
        return self.states[MAILBOX_ROW]

    def _confirm(self, keys: Sequence[str], refs: dict[str, str]) -> tuple[set[str], dict[str, str]]:
        """Where each message is now: (deleted on evidence, moved elsewhere). A 404 is no
        evidence (the online archive gives items new ids): recorded, treated as moved. A
        failure for one message is retried on later pulls."""
        deleted: set[str] = set()
        moved: dict[str, str] = {}
        vanished: list[str] = []
        for key, answer in self._locate(keys):
            if answer.ok:
                clear_fault(self.account, key)
                folder = self.folders.name_of(str((answer.body or {}).get("parentFolderId", "")))
                if self.folders.is_deleted(folder):
                    deleted.add(key)
                elif refs.get(key) != folder:
                    moved[key] = folder
            elif answer.status == 404:
                clear_fault(self.account, key)
                vanished.append(key)
            elif answer.status == 429:
                raise answer.error("checking where a message went")  # throttled: the pull waits
            else:
                error = answer.error("checking where a message went")
                self._fetch_failed(key, str(error), {"kind": RESOLVE})
        if vanished:
            self._record_vanished(vanished)
        return deleted, moved

    def _locate(self, keys: Sequence[str]) -> Iterable[tuple[str, SubResponse]]:
        parts = [
            SubRequest(str(i), "GET", self.graph.path(f"/messages/{quote_id(key)}?$select=id,parentFolderId"))
            for i, key in enumerate(keys)
        ]
        for part, answer in self.graph.batched(parts):
            yield keys[int(part.id)], answer

    def _fresh_mailbox_row(self) -> FolderState:
        """The mailbox-wide row as stored now: the mass-delete guard and the held-deletions
        check write it through objects of their own, which a cached copy must not undo."""
        state = self._state(MAILBOX_ROW)
        state.refresh_from_db(fields=["extra"])
        return state

    def _record_vanished(self, keys: list[str]) -> None:
        state = self._fresh_mailbox_row()
        kept = [k for k in state.extra.get("vanished", []) if k not in keys]
        state.extra = {**state.extra, "vanished": [*kept, *keys][-VANISHED_KEPT:]}
        state.save(update_fields=["extra"])
        self.report.notes.append(
            f"{len(keys)} known message(s) no longer found at Microsoft (moved out of the mailbox, "
            "e.g. to the online archive, or purged): kept in the app"
        )

    # --- a lost cursor: reconcile -------------------------------------------------------------
    def _reconcile(self, folder: str, rounds: list[Round]) -> None:
        """After a 410: known messages of this folder that it no longer holds are confirmed
        one by one (Deleted Items / Recoverable Items Deletions → deleted; elsewhere → moved)."""
        try:
            present = self._list_ids(folder)
        except GraphForbidden as exc:
            self.report.notes.append(f"{folder}: could not list it for the reconcile ({exc})")
            return
        seen_elsewhere = {str(item["id"]) for r in rounds for item in r.items}
        known = dict(
            ProviderRef.objects.filter(account_id=self.account.pk, folder=folder).values_list("key", "folder")
        )
        candidates = sorted(k for k in known if k not in present and k not in seen_elsewhere)
        if not candidates:
            return
        deleted, moved = self._confirm(candidates, known)
        if moved:
            relocate_refs(self.account, {key: {"key": key, "folder": where} for key, where in moved.items()})
        if deleted:
            self.report.notes.append(f"{folder}: reconcile confirmed {len(deleted)} deletion(s)")
            self._delete(sorted(deleted))

    def _list_ids(self, folder: str) -> set[str]:
        """The ids a folder holds now (ids only: the cheapest listing Graph has)."""
        ids: set[str] = set()
        url: str = self.graph.url(f"/mailFolders/{folder}/messages")
        params: dict[str, str] | None = {"$select": "id", "$top": str(LIST_PAGE_SIZE)}
        while True:
            page = self.graph.get_json(url, params=params)
            ids |= {str(item["id"]) for item in page.get("value", [])}
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return ids
            url, params = self._own(next_link), None

    def _delete(self, keys: list[str], *, guard: bool = True) -> None:
        if guard and exceeds_mass_delete_guard(self.account, len(keys)):
            pause_and_hold_deletions(self.account, state_folder=MAILBOX_ROW, keys=keys)
            self.report.paused = True
            self.report.notes.append(f"{len(keys)} deletions held until the sync is resumed")
            return
        self.report.deleted += apply_external_deletions(self.account, keys, where="Outlook")

    def _recheck_held_deletions(self) -> None:
        """The account was paused by the guard and the user resumed it: whatever is still
        deleted at Microsoft now (on evidence) is deleted in the app (the user looked and agreed)."""
        state = FolderState.objects.filter(account=self.account, folder=MAILBOX_ROW).first()
        held = list(state.extra.get("held_deletions", [])) if state else []
        if not held or state is None:
            return
        refs = dict(_pairs(ProviderRef.objects.filter(account_id=self.account.pk), held))
        still_deleted, moved = self._confirm(held, refs)
        if moved:
            relocate_refs(
                self.account, {key: {"key": key, "folder": folder} for key, folder in moved.items()}
            )
        if still_deleted:
            self._delete(sorted(still_deleted), guard=False)
        state.refresh_from_db()
        state.extra = {k: v for k, v in state.extra.items() if k != "held_deletions"}
        state.save(update_fields=["extra"])


def _slim(item: dict[str, Any]) -> dict[str, Any]:
    """What an import needs of a delta item (kept in the backlog and in fault locators)."""
    keep = ("id", "conversationId", "isRead", "receivedDateTime")
    return {k: item[k] for k in keep if k in item}


def _read_capped(response: requests.Response, limit: int) -> tuple[bytes, bool]:
    """The body, or (its first ``limit`` bytes, False) once it proves larger: the download
    stops there, so memory stays bounded by the cap whatever the message's size."""
    length = int(response.headers.get("Content-Length") or 0)
    if length > limit:
        return b"", False
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(chunk_size=DOWNLOAD_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"", False
    except requests.RequestException as exc:
        raise ProviderTemporaryError(f"Graph dropped a message download: {exc}") from exc
    return b"".join(chunks), True


def _listed(resource: dict[str, Any]) -> dict[str, object] | None:
    """One Graph attachment resource as the app lists it; a reference attachment (a link to
    a file in OneDrive or SharePoint) has no bytes to download and is left out."""
    kind = str(resource.get("@odata.type") or "")
    if kind.endswith("referenceAttachment") or not resource.get("id"):
        return None
    name = clean_text(resource.get("name") or "").strip()
    content_type = clean_text(resource.get("contentType") or "").strip().lower()
    if kind.endswith("itemAttachment"):
        # An attached Outlook item: its $value is the item as MIME.
        content_type = "message/rfc822"
        name = f"{name or 'message'}.eml"
    return {
        "filename": name or "(unnamed)",
        "content_type": content_type or "application/octet-stream",
        "size": _int(resource.get("size")),
        "inline": bool(resource.get("isInline")),
        "content_id": clean_text(resource.get("contentId") or "").strip().strip("<>"),
        "part": "",
        "provider_id": str(resource["id"]),
    }


def _int(value: object) -> int:
    try:
        return max(0, int(str(value)))
    except (TypeError, ValueError):
        return 0


def _headers_and_text(resource: dict[str, Any]) -> bytes:
    """A small MIME message: the original headers (its MIME structure headers left out) and
    its text as one text/plain part."""
    lines = []
    for header in resource.get("internetMessageHeaders") or []:
        name = str(header.get("name", "")).strip()
        value = " ".join(str(header.get("value", "")).split())
        if not name or name.lower().startswith(("content-", "mime-version")) or ":" in name:
            continue
        lines.append(f"{name}: {value}")
    body = resource.get("body") or {}
    text = str(body.get("content", ""))
    head = "\r\n".join([*lines, "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"])
    head += "\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    return head.encode("utf-8", "replace") + text.encode("utf-8", "replace")


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
