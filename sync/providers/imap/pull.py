"""IMAP → app: new messages, and deletions on positive evidence only.

Per folder the cursor is (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, EXISTS):

* INBOX and Sent are imported (first sync: the account's past-days range; later: every
  new UID). Archive and Trash are only *tracked*: their new UIDs tell where a message that
  left INBOX or Sent went.
* What left a folder is found with QRESYNC (``UID FETCH … (CHANGEDSINCE m VANISHED)``) when
  offered, else by comparing the UIDs we hold references for with ``UID SEARCH ALL``. An
  unchanged HIGHESTMODSEQ (or, without CONDSTORE, unchanged UIDNEXT and EXISTS) skips the
  folder entirely.
* A message that left its folder (expunged, or flagged ``\\Deleted``: no live copy) is looked
  for in every folder (placement.py). Found anywhere but Trash — Archive, All Mail, a project
  folder — its reference just follows it (ARCHITECTURE.md, decision 1). Found in Trash: it
  is deleted in the app at once. Found nowhere: it is deleted only once *complete* checks
  found no live copy on two pulls in a row, the second at least
  ``IMAP_DELETE_CONFIRM_DELAY_SECONDS`` after the first; until then — and for as long as a
  check is incomplete or only a ``\\Deleted`` copy is left — it is "unplaced"
  (``UnplacedMessage``, listed on the status page) and checked again on every pull.
* A UID the server refuses to FETCH (``NO``) or leaves out of the answer is retried with
  backoff (sync/faults.py) while the cursor moves on; a refused batch is split to find it.
  A new message already flagged ``\\Deleted`` is not imported while it stays flagged.
* A new UIDVALIDITY re-keys the references by Message-ID: no duplicates, no deletions.
* Too many deletions at once pause the account (the mass-delete guard); the held
  deletions are re-checked and applied only after the user resumed the sync.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError
from imapclient.response_parser import parse_fetch_response

from inbox.lookups import any_of
from inbox.models import MailAccount, Message, ProviderRef, Tombstone
from inbox.services import apply_external_deletions, apply_external_read_state, pause_for_mass_delete
from inbox.services.mailboxes import report_initial_sync_progress
from inbox.services.refs import relocate_refs
from inbox.types import RefData
from sync import parse_pool
from sync.errors import ProviderTemporaryError
from sync.faults import clear_fault, fetch_retries_due, record_fetch_failure
from sync.mime import clean_text
from sync.models import FaultState, FolderState, GmailMessageId, UnplacedMessage
from sync.parse_pool import ParseJob
from sync.providers.base import PullReport
from sync.providers.imap import fetch_answer
from sync.providers.imap.client import (
    MESSAGE_ID_FIELD,
    ImapSettings,
    chunks,
    clear_untagged,
    connect,
    disconnect,
    has,
    message_id_of_fetch,
    parse_uid_set,
    ref_key,
    take_untagged,
    uid_ranges,
)
from sync.providers.imap.errors import is_temporary_refusal
from sync.providers.imap.folders import FolderMap
from sync.providers.imap.placement import Location, Placement, PlacementCheck
from sync.providers.imap.structure import TEXT_FETCH_BYTES, StructurePart, listing, text_only_message
from sync.store import (
    MAX_FETCH_BYTES,
    BackgroundStore,
    RawItem,
    StoreOutcome,
    commit_without_waiting_for_disk,
    exceeds_mass_delete_guard,
    look_up_by_index,
    start_parsing_items,
    store_raw_message,
    store_raw_messages,
    store_too_large,
    too_large_reason,
)

logger = logging.getLogger(__name__)

__all__ = ["ImapPull", "Location"]

MAILBOX_STATE = ""  # FolderState.folder of the account-wide state (held deletions, folder list)
IMPORT_ROLES = ("inbox", "sent")
TRACK_ROLES = ("archive", "trash")
BODY_BATCH_BYTES = 8 * 1024 * 1024
BODY_BATCH_COUNT = 250
META_BATCH = 1000
# A first sync reads newest first (highest UID first) and stores its first group small, so
# the newest conversations show within a couple of seconds while the rest fills in behind.
FIRST_GROUP_COUNT = 60
# ... and it finds the messages of the past-days range window by window from the top (the
# highest sequence numbers), never with one SEARCH of the whole folder first: on a
# 100,000-message folder that search took Dovecot 3 s (24 s on a loaded machine) before
# anything could show. Windows double in size up to MAX_WINDOW.
FIRST_WINDOW = 100
MAX_WINDOW = 8000
SEEN = b"\\Seen"
BODY = "BODY.PEEK[]"  # a whole message, without setting \\Seen
# Without QRESYNC, a folder's unread UIDs are kept with its cursor up to this many (a few
# hundred KB of JSON); above it, read state from other clients is not followed there.
MAX_UNSEEN_KEPT = 50_000
DELETED = b"\\deleted"
# Complete checks in a row that must find no live copy before a message is deleted.
CONFIRMING_CHECKS = 2
# Logins per pull after a server hung up on a FETCH (narrowing down to the message it cannot read).
MAX_RECONNECTS = 20
FetchAnswer = dict[int, dict[bytes, Any]]


@dataclass
class FolderScan:
    folder: str
    role: str
    uidvalidity: int
    uidnext: int
    exists: int
    highestmodseq: int | None
    state: FolderState | None
    new_uids: list[int] = field(default_factory=list)
    vanished_keys: set[str] = field(default_factory=set)
    # Provider key → \\Seen, for known messages whose flags changed since the last pull.
    seen: dict[str, bool] = field(default_factory=dict)
    # New UIDs flagged \Deleted: not imported while flagged, looked at again next pull.
    deleted_waiting: set[int] = field(default_factory=set)
    reset: bool = False
    retry: bool = False  # a folder opened only to ask again for refused messages
    # Without QRESYNC: the folder's live unread UIDs now (``None``: not read this pull). Kept
    # with the cursor, the next pull's difference is what another client read or unread.
    unseen: list[int] | None = None
    # First read of an import folder: its range is searched window by window, newest first
    # (``ImapPull._import_windows``), so ``new_uids`` fills in as the windows are read.
    windowed: bool = False


class ImapPull:
    def __init__(self, account: MailAccount, client: IMAPClient, folders: FolderMap) -> None:
        self.account = account
        self.client = client
        self.folders = folders
        self.report = PullReport()
        self.qresync = has(client, "QRESYNC") and has(client, "ENABLE")
        self.condstore = self.qresync or (has(client, "CONDSTORE") and has(client, "ENABLE"))
        self.gmail = has(client, "X-GM-EXT-1")
        self.scans: dict[str, FolderScan] = {}
        self.states: dict[str, FolderState] = {}
        # message pk → locations it newly showed up at (live) in a tracked-only folder, by role
        self.arrivals: dict[int, list[tuple[str, Location]]] = defaultdict(list)
        self.placement: PlacementCheck | None = None
        self.fetch_faults = 0
        self.attempted: set[str] = set()  # keys asked for this pull (no double counting)
        # Fetched groups are stored on a thread of their own while the next is read.
        self.store = BackgroundStore()
        # The first sync's progress bar (done, total), and what is done but not reported yet
        # because a group is being stored (``_progressed``).
        self.progress: list[int] | None = None
        self.progress_owed = 0
        self.reconnects = 0
        self.own_clients: list[IMAPClient] = []  # opened after a server hung up on a FETCH
        # The folder selected last, known while only _scan and _reselect select folders (the
        # scans and the imports: ``tracking``); afterwards every _reselect selects again.
        self.selected: str | None = None
        self.tracking = True

    # --- the run -----------------------------------------------------------------------
    def run(self) -> PullReport:
        try:
            try:
                report = self._run()
            except BaseException:
                self.store.close_after_error()  # the error raised is the pull's own
                raise
            self.store.close()
            return report
        finally:
            for client in self.own_clients:
                disconnect(client)

    def _enable(self) -> None:
        if self.qresync:
            self.client.enable("QRESYNC")
        elif self.condstore:
            self.client.enable("CONDSTORE")

    def _run(self) -> PullReport:
        self._enable()
        # Every cursor of the account in one query (the account-wide row holds held deletions).
        self.states = {state.folder: state for state in FolderState.objects.filter(account=self.account)}
        held = self._held_deletions()
        # INBOX is scanned last and imported first: still selected, it needs no second EXAMINE
        # (on a big maildir each one costs the server a look at every file name).
        roles = [(role, self.folders.get(role)) for role in (*TRACK_ROLES, *reversed(IMPORT_ROLES))]
        for role, folder in roles:
            if folder and folder not in self.scans:
                scan = self._scan(folder, role)
                if scan is not None:
                    self.scans[folder] = scan
                    if role in TRACK_ROLES:
                        # Where messages went, read while the folder is selected anyway.
                        self._track_arrivals(scan)
        for scan in self.scans.values():
            if scan.reset:
                self._rekey(scan)
        # The status page's progress bar: a mailbox's first pull reports how far it got.
        first = [s for s in self.scans.values() if s.windowed]
        # Every message of a first-read folder counts once, in the range or not: the bar's
        # length is known before any search, and a message out of the range is "done" once
        # the window holding it was searched.
        total = sum(s.exists for s in first)
        self.progress = [0, total] if self.account.initial_sync_finished_at is None else None
        if self.progress is not None:
            # The bar's length is known before the first message is read: show it at once.
            report_initial_sync_progress(self.account, done=0, total=total)
        imports = [scan for scan in self.scans.values() if scan.role in IMPORT_ROLES]
        if any((s.exists if s.windowed else len(s.new_uids)) >= parse_pool.POOL_MIN_GROUP for s in imports):
            # A group may be big enough for the parse workers: they are forked now, while
            # this is the process's only thread — before the store thread starts
            # (``parse_pool.start``). A first read counts its whole folder (an upper bound).
            parse_pool.start()
        for scan in sorted(imports, key=lambda scan: scan.role != "inbox"):
            if scan.windowed:
                self._import_windows(scan)
            else:
                self._import(scan, scan.new_uids)
        # The faults read next are written by the stores too (a message that arrived clears
        # its own), and nothing below may run before every group is committed: the cursors
        # (``_save_states``) must never be saved past a group that did not commit.
        self._wait_stored()
        self.selected, self.tracking = None, False  # from here on, other code selects too
        self._retry_refused()
        self._wait_stored()
        seen = {key: flag for scan in self.scans.values() for key, flag in scan.seen.items()}
        if seen:
            apply_external_read_state(self.account, seen)
        if held:
            self._resolve_held(held)
        self._resolve()
        self._save_states()
        changed = any(scan.new_uids or scan.vanished_keys or scan.reset for scan in self.scans.values())
        if self.placement is not None or changed:
            # A pull that changed nothing skips the LIST (no-change pulls stay at one EXAMINE
            # per folder); a later check then compares with the last list seen, which can only
            # make it incomplete more often, never complete on a list it did not compare.
            self._save_folder_list()
        if self.fetch_faults:
            self.report.notes.append(
                f"{self.fetch_faults} message(s) the server would not return: retrying "
                "(listed on the status page)"
            )
        if self.progress is not None:
            done = self.progress[1]
            report_initial_sync_progress(self.account, done=done, total=done, finished=True)
        return self.report

    # --- scanning a folder -----------------------------------------------------------------
    def _scan(self, folder: str, role: str) -> FolderScan | None:
        try:
            selected = self.client.select_folder(folder, readonly=True)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                raise
            # A folder that is gone or broken must not stop the others. Skipping it is safe:
            # its cursor is not saved, and what left other folders cannot be proven gone
            # while a folder could not be looked into (the placement check sees it too).
            self.report.notes.append(f"could not open {folder!r}: {_text(exc)}")
            self.selected = None
            return None
        self.selected = folder if self.tracking else None
        uidvalidity = int(selected[b"UIDVALIDITY"])
        exists = int(selected.get(b"EXISTS", 0))
        highestmodseq = selected.get(b"HIGHESTMODSEQ")
        highestmodseq = int(highestmodseq) if highestmodseq is not None and self.condstore else None
        uidnext = selected.get(b"UIDNEXT")
        if uidnext is None:  # optional before IMAP4rev2; derive it
            all_uids = self.client.search("ALL") if exists else []
            uidnext = max(all_uids, default=0) + 1
        state = self.states.get(folder)
        scan = FolderScan(folder, role, uidvalidity, int(uidnext), exists, highestmodseq, state)

        first_reading = state is None or state.uidvalidity is None or state.uidvalidity != uidvalidity
        if first_reading and not self.qresync:
            self._read_state_without_qresync(scan)  # the reading the next pull compares with
        if state is None or state.uidvalidity is None:
            # No date SEARCH here: ``_import_windows`` searches the range from the newest down.
            scan.windowed = role in IMPORT_ROLES and bool(exists)
            return scan
        if state.uidvalidity != uidvalidity:
            scan.reset = True
            return scan
        waiting = [int(u) for u in state.extra.get("deleted_waiting") or []]
        if waiting:
            # Flagged \Deleted when they arrived: imported once un-flagged, dropped once gone.
            ranges = ",".join(uid_ranges(waiting))
            live = set(self.client.search(["UID", ranges, "UNDELETED"]))
            still = set(self.client.search(["UID", ranges]))
            scan.new_uids = sorted(u for u in waiting if u in live)
            scan.deleted_waiting = {u for u in waiting if u in still and u not in live}
        unchanged = (
            highestmodseq is not None
            and state.highestmodseq == highestmodseq
            and state.uidnext == scan.uidnext
        ) or (highestmodseq is None and state.uidnext == scan.uidnext and state.extra.get("exists") == exists)
        if unchanged and not state.extra.get("recheck"):
            if highestmodseq is None and scan.exists:
                # Without CONDSTORE a flag change leaves UIDNEXT and EXISTS as they were: ask
                # which messages are flagged \Deleted (usually none) — those are no live copies.
                known = self._known_uids(folder, uidvalidity)
                flagged = set(self.client.search("DELETED")) if known else set()
                scan.vanished_keys = {known[uid] for uid in flagged if uid in known}
                # Nor does a \Seen set or taken away by another client.
                self._read_state_without_qresync(scan)
            return scan
        if state.uidnext is not None and scan.uidnext > state.uidnext:
            start = state.uidnext
            # "n:*" always matches the highest UID, even one below n: filter.
            fresh = [u for u in self.client.search(["UID", f"{start}:*"]) if u >= start]
            scan.new_uids = sorted(set(scan.new_uids) | set(fresh))
        scan.vanished_keys = self._vanished(scan)
        return scan

    def _reselect(self, scan: FolderScan) -> None:
        """Select a scanned folder again; its UIDVALIDITY must still be the one scanned.
        Nothing to do when it is still the selected one (UIDVALIDITY cannot change under an
        open selection: a server that renumbers closes it)."""
        if self.tracking and self.selected == scan.folder:
            return
        self.selected = None
        selected = self.client.select_folder(scan.folder, readonly=True)
        if int(selected[b"UIDVALIDITY"]) != scan.uidvalidity:
            # UIDs from before and after cannot be mixed: stop, and start over next time.
            raise ProviderTemporaryError(f"UIDVALIDITY of {scan.folder} changed during the sync")
        self.selected = scan.folder if self.tracking else None

    def _known_uids(self, folder: str, uidvalidity: int) -> dict[int, str]:
        rows = ProviderRef.objects.filter(
            account_id=self.account.pk, folder=folder, uidvalidity=uidvalidity, uid__isnull=False
        ).values_list("uid", "key")
        return {int(uid): key for uid, key in rows if uid is not None}

    def _vanished(self, scan: FolderScan) -> set[str]:
        """Keys of known messages that are no longer live in the folder: expunged, or
        flagged ``\\Deleted`` (not a copy to rely on; the placement check tells the rest)."""
        state = scan.state
        recheck = state is not None and state.extra.get("recheck")
        if (
            self.qresync
            and state is not None
            and state.highestmodseq
            and scan.highestmodseq is not None
            and not recheck
        ):
            # O(changes): the server says which UIDs were expunged or flagged since our modseq
            # ("1:*": no list of known UIDs is loaded or sent), and the database is asked only
            # about those. Loading every known UID first made a pull with 100 changes grow
            # with the mailbox (100,000 rows at 100,000 messages).
            # Any reference in the folder? Asked in ref_folder_uid_idx's order with LIMIT 1: one
            # index probe. A bare EXISTS let the planner, expecting a match within the first
            # rows, scan the table from its start, through every row stored before this
            # account's (120,000 rows, 74 ms, in the incremental bench's database).
            any_ref = (
                ProviderRef.objects.filter(
                    account_id=self.account.pk, folder=scan.folder, uidvalidity=scan.uidvalidity
                )
                .order_by("account_id", "folder", "uid")
                .values_list("uid", flat=True)[:1]
            )
            if not any_ref:
                return set()
            gone, seen = _vanished_since(self.client, "1:*", state.highestmodseq)
            # The same answer carries the flags another client changed: read state.
            if seen:
                keys = self._keys_of_uids(scan.folder, scan.uidvalidity, set(seen))
                scan.seen.update({keys[uid]: flag for uid, flag in seen.items() if uid in keys})
            return set(self._keys_of_uids(scan.folder, scan.uidvalidity, gone).values())
        self._read_state_without_qresync(scan)
        known = self._known_uids(scan.folder, scan.uidvalidity)
        if not known:
            return set()
        present = set(self.client.search("UNDELETED")) if scan.exists else set()
        return {known[uid] for uid in set(known) - present}

    def _read_state_without_qresync(self, scan: FolderScan) -> None:
        """Read state on a server that cannot say which flags changed (no QRESYNC): the
        folder's unread UIDs now, against those of the last pull. Only a difference counts —
        a UID that became unread, or stopped being unread while still live — so a read or
        unread made in the app and not pushed yet is never undone by a pull."""
        unseen = set(self.client.search(["UNSEEN", "UNDELETED"])) if scan.exists else set()
        if len(unseen) > MAX_UNSEEN_KEPT:
            return  # not kept: the next pull starts over from its own reading
        scan.unseen = sorted(unseen)
        state = scan.state
        before = state.extra.get("unseen") if state is not None else None
        if not isinstance(before, list) or state is None or state.uidvalidity != scan.uidvalidity:
            return  # the first reading of this folder: nothing to compare with
        previously = {int(uid) for uid in before}
        read_now, unread_now = previously - unseen, unseen - previously
        if not read_now and not unread_now:
            return
        still_live = set(self.client.search("UNDELETED")) & read_now if read_now else set()
        keys = self._keys_of_uids(scan.folder, scan.uidvalidity, still_live | unread_now)
        scan.seen.update({keys[uid]: True for uid in still_live if uid in keys})
        scan.seen.update({keys[uid]: False for uid in unread_now if uid in keys})

    def _keys_of_uids(self, folder: str, uidvalidity: int, uids: set[int]) -> dict[int, str]:
        """Our references' keys for these UIDs of the folder, by UID (1,000 per IN)."""
        wanted = sorted(uids)
        keys: dict[int, str] = {}
        for start in range(0, len(wanted), 1000):
            rows = ProviderRef.objects.filter(
                account_id=self.account.pk,
                folder=folder,
                uidvalidity=uidvalidity,
                uid__in=wanted[start : start + 1000],
            ).values_list("uid", "key")
            keys.update({int(uid): key for uid, key in rows if uid is not None})
        return keys

    # --- UIDVALIDITY changed ------------------------------------------------------------------
    def _rekey(self, scan: FolderScan) -> None:
        """Point the folder's references at the new UIDs by Message-ID; delete nothing."""
        stale = list(
            ProviderRef.objects.filter(account_id=self.account.pk, folder=scan.folder)
            .exclude(uidvalidity=scan.uidvalidity)
            .values_list("key", "message__message_id")
        )
        self.report.notes.append(
            f"{scan.folder}: UIDVALIDITY changed ({scan.state.uidvalidity if scan.state else '?'} → "
            f"{scan.uidvalidity}); {len(stale)} references re-keyed by Message-ID"
        )
        by_mid: dict[str, int] = {}
        if scan.exists:
            self._reselect(scan)
            # Live copies only: a \Deleted leftover with the same Message-ID goes at the next
            # EXPUNGE by any client, and a reference must not name it. A message the server
            # will not return keeps its old reference (no evidence either way) and is retried
            # by the import below like any refused message.
            uids = self.client.search("UNDELETED")
            ids: dict[int, str] = {}
            refused: dict[int, str] = {}
            for batch in chunks(uids, META_BATCH):
                answer, batch_refused = self._fetch_narrowing(scan, batch, [MESSAGE_ID_FIELD])
                refused.update(batch_refused)
                ids.update({uid: message_id_of_fetch(data) for uid, data in answer.items()})
            if refused:
                self.report.notes.append(
                    f"{scan.folder}: {len(refused)} message(s) could not be read to re-key their references"
                )
            for uid, mid in sorted(ids.items()):
                if mid:
                    by_mid.setdefault(mid, uid)
        moved = {
            key: Location(scan.folder, scan.uidvalidity, by_mid[mid]).fields()
            for key, mid in stale
            if mid and mid in by_mid
        }
        if moved:
            relocate_refs(self.account, moved)
        if scan.role in IMPORT_ROLES and scan.exists:
            # Then import the range like a first sync: known Message-IDs only gain a reference
            # and tombstoned ones stay out, so nothing is duplicated or resurrected.
            since = (timezone.now() - timedelta(days=self.account.sync_past_days)).date()
            scan.new_uids = sorted(self.client.search(["SINCE", since]))

    # --- importing --------------------------------------------------------------------------
    def _import_windows(self, scan: FolderScan) -> None:
        """The first read of an import folder: the past-days range, newest first, one window
        of sequence numbers at a time from the top (``UID SEARCH lo:hi SINCE d``), each window
        imported before the next is searched — the newest messages show after one small
        search, not after a search of the whole folder.

        Exact: windows go down from the EXISTS seen at the scan to 1. Sequence numbers only
        ever move down (an expunge by another client shifts the messages above it down by
        one; new mail lands above the scan's top and is the next pull's, from the cursor's
        UIDNEXT), so a message can be met twice — then it is skipped (``attempted``) — but
        never missed. The cursor is saved only when the whole pull ends, as before."""
        since = (timezone.now() - timedelta(days=self.account.sync_past_days)).date()
        # Selected once (``_import`` finds it selected): nothing in between selects another
        # folder, and a window above the current EXISTS simply matches nothing.
        self._reselect(scan)
        top = scan.exists
        size = FIRST_WINDOW
        first = True
        while top >= 1:
            low = max(1, top - size + 1)
            uids = sorted(u for u in self.client.search([f"{low}:{top}", "SINCE", since]))
            scan.new_uids.extend(uids)
            # Out of the range: looked at, so done (each message of the folder counts once).
            self._progressed(top - low + 1 - len(uids))
            self._import(scan, uids, quick_first=first)
            first = False
            top = low - 1
            size = min(size * 2, MAX_WINDOW)

    def _import(self, scan: FolderScan, uids: list[int], *, quick_first: bool = False) -> None:
        """Fetch, parse and store these UIDs (those not known, tombstoned or asked already).
        With ``quick_first`` the newest ``FIRST_GROUP_COUNT`` are stored before the rest.

        The last group may still be being stored when this returns (``self.store``): the
        next window's reading overlaps it too. Whoever reads what it writes waits first."""
        if not uids:
            return
        keys = {uid: ref_key(scan.folder, scan.uidvalidity, uid) for uid in uids}
        if self.store.holds_any(keys.values()):
            # A key met twice (an expunge by another client shifted the windows' sequence
            # numbers): whether it is known depends on that group's commit. Any other key's
            # references and tombstones are the same before and after it: no need to wait.
            self._wait_stored()
        known = self._existing_keys(list(keys.values()))
        tombstoned = set(
            Tombstone.objects.filter(account_id=self.account.pk)
            .filter(any_of("provider_key", keys.values()))
            .values_list("provider_key", flat=True)
        )
        self.report.duplicates += sum(1 for k in keys.values() if k in known)
        self.report.tombstoned += sum(1 for k in keys.values() if k in tombstoned and k not in known)
        for key in keys.values():
            if scan.retry and (key in known or key in tombstoned):
                clear_fault(self.account, key)  # it is here after all: no longer stuck
        todo = [uid for uid, key in keys.items() if key not in known and key not in tombstoned]
        todo = [uid for uid in todo if keys[uid] not in self.attempted]
        first_sync = self.progress is not None and scan.windowed and not scan.retry
        if scan.windowed and not scan.retry:
            todo.sort(reverse=True)  # newest first: what the user looks for first shows first
        if first_sync:
            self._progressed(len(uids) - len(todo))  # known or deleted earlier: done already
        if not todo:
            return
        self.attempted.update(keys[uid] for uid in todo)
        self._reselect(scan)
        meta_items = ["RFC822.SIZE", "FLAGS", "INTERNALDATE", *(["X-GM-MSGID"] if self.gmail else [])]
        # A first sync, or more than a group: stored on the store thread while the next group
        # is read. A few new messages are stored here: the thread and its database connection
        # would cost an incremental pull more than they save. Retries (``scan.retry``) too:
        # ``_retry_refused`` then writes faults with nothing being stored meanwhile.
        background = (first_sync or len(todo) > BODY_BATCH_COUNT) and not scan.retry
        for index, batch in enumerate(chunks(todo, META_BATCH)):
            meta = self._fetch(scan, batch, meta_items)
            flagged = [u for u in batch if u in meta and DELETED in _lower_flags(meta[u])]
            scan.deleted_waiting.update(flagged)  # not "in the Inbox" while flagged \Deleted
            listed = [u for u in batch if u in meta and u not in flagged]
            small = [u for u in listed if int(meta[u].get(b"RFC822.SIZE", 0)) <= MAX_FETCH_BYTES]
            large = [u for u in listed if u not in small]
            if first_sync:
                # Flagged \Deleted (not imported while flagged) and refused ones are done too.
                self._progressed(len(batch) - len(listed))
            groups = self._body_groups(small, meta, first=quick_first and index == 0)
            sent = fetch_answer.send(self.client, groups[0], [BODY]) if groups else None
            for number, group in enumerate(groups):
                bodies = self._fetch(scan, group, [BODY], expect=b"BODY[]", sent=sent)
                # The next group is asked for now: the server reads and sends it while this
                # group is handed to the parse workers and the previous one is stored (which
                # uses only the database, never this IMAP connection).
                following = groups[number + 1] if number + 1 < len(groups) else []
                sent = fetch_answer.send(self.client, following, [BODY])
                items = [
                    self._item(scan, uid, bodies[uid][b"BODY[]"], meta[uid])
                    for uid in group
                    if bodies.get(uid, {}).get(b"BODY[]") is not None
                ]
                metas = [meta[item.ref.uid] for item in items]  # type: ignore[index]
                # The workers parse this group while the previous one is stored, then the
                # store thread stores it while this thread reads the next: fetch, parse and
                # ingest overlap. Handed over at once, the first group of a first sync (the
                # newest, ``quick_first``: FIRST_GROUP_COUNT) shows as soon as it committed.
                job = start_parsing_items(self.account, items)
                self._store_group(items, metas, job, len(group), first_sync, background=background)
            if large:
                # Stored in this thread, after the groups read before them.
                self._wait_stored()
            for uid in large:
                self._import_too_large(scan, uid, meta[uid])
                if first_sync:
                    self._progressed(1)

    def _import_too_large(self, scan: FolderScan, uid: int, meta: dict[bytes, Any]) -> None:
        """Above the body cap: the headers, the structure (every attachment listed with its
        section number, fetched only when opened) and the small text parts — never the whole."""
        answer = self._fetch(scan, [uid], ["BODY.PEEK[HEADER]", "BODYSTRUCTURE"], expect=b"BODY[HEADER]")
        headers = answer.get(uid, {}).get(b"BODY[HEADER]")
        if headers is None:
            return  # refused or left out: recorded as a fetch fault, asked again later
        size = int(meta.get(b"RFC822.SIZE", 0))
        where = "Gmail" if self.gmail else "your mail client"
        body = answer[uid].get(b"BODYSTRUCTURE")
        if not isinstance(body, tuple | list) or not body:
            reason = too_large_reason(size, where, text=False, files=0, cap=MAX_FETCH_BYTES)
            self._store(scan, uid, headers, meta, headers_only_reason=reason)
            return
        # The text fetched stays within the body cap too (and far below it).
        found = listing(body, text_budget=min(TEXT_FETCH_BYTES, MAX_FETCH_BYTES))
        texts: list[tuple[StructurePart, bytes]] = []
        if found.texts:
            items = [f"BODY.PEEK[{part.section}]" for part in found.texts]
            try:
                bodies = dict(self.client.fetch([uid], items)).get(uid, {})
            except IMAPClientAbortError:
                raise
            except IMAPClientError:
                bodies = {}  # the text is a nicety: the headers and the files are imported anyway
            texts = [
                (part, bytes(bodies[key]))
                for part in found.texts
                if (key := f"BODY[{part.section}]".encode()) in bodies and bodies[key] is not None
            ]
        item = self._item(scan, uid, text_only_message(bytes(headers), texts), meta)
        outcome = store_too_large(
            self.account,
            item.raw,
            item.ref,
            reason=too_large_reason(
                size, where, text=bool(texts), files=len(found.attachments), cap=MAX_FETCH_BYTES
            ),
            attachments=found.attachments,
            incoming=item.incoming,
            is_read=item.is_read,
            fallback_date=item.fallback_date,
        )
        self._counted(item, meta, outcome)

    def _store_group(
        self,
        items: list[RawItem],
        metas: list[dict[bytes, Any]],
        job: ParseJob,
        asked: int,
        first_sync: bool,
        *,
        background: bool,
    ) -> None:
        """Store a fetched group whose parse was started — one bulk ingest, one commit — on
        the store thread (``background``) once the group before it is stored. ``asked``: the
        UIDs the group's FETCH asked for (the progress bar counts each, arrived or not)."""
        account, gmail = self.account, self.gmail
        progress = self._progress_after(asked) if first_sync else None

        def store() -> list[StoreOutcome]:
            # On the store thread: the database only. The pull's state (report, progress,
            # faults) is kept by the pull's thread (``counted``, ``_progress_after``).
            with transaction.atomic():
                commit_without_waiting_for_disk()
                look_up_by_index()
                outcomes = store_raw_messages(account, items, parsing=job)
                if gmail:
                    _save_gmail_ids(account, _gmail_ids(items, metas, outcomes))
                if progress is not None:
                    # In the same commit as the messages it counts.
                    report_initial_sync_progress(account, done=progress[0], total=progress[1])
            return outcomes

        def counted(outcomes: list[StoreOutcome]) -> None:
            for outcome in outcomes:
                self.report.count(outcome)

        self.store.submit(store, counted, keys=[item.ref.key for item in items], background=background)

    def _wait_stored(self) -> None:
        """Every group handed to the store thread is committed (or its error raised here)."""
        self.store.wait()
        if self.progress_owed:
            self._report_progress()

    def _progressed(self, count: int) -> None:
        """The progress bar of a first sync: every UID counts once, imported or not. While a
        group is being stored the count waits for it (``progress_owed``), to be reported with
        that group or the next: the bar never counts what is not committed yet — and only
        this thread's numbers, in order, ever reach it."""
        if self.progress is None or count <= 0:
            return
        self.progress_owed += count
        if not self.store.busy:
            self._report_progress()

    def _report_progress(self) -> None:
        assert self.progress is not None
        self.progress[0] = min(self.progress[0] + self.progress_owed, self.progress[1])
        self.progress_owed = 0
        report_initial_sync_progress(self.account, done=self.progress[0], total=self.progress[1])

    def _progress_after(self, count: int) -> tuple[int, int]:
        """(done, total) for the bar once a group of ``count`` UIDs is committed (with what
        was done meanwhile), counted now: the stores commit in this order."""
        assert self.progress is not None
        self.progress[0] = min(self.progress[0] + self.progress_owed + count, self.progress[1])
        self.progress_owed = 0
        return self.progress[0], self.progress[1]

    def _fetch(
        self,
        scan: FolderScan,
        uids: list[int],
        items: list[str],
        *,
        expect: bytes | None = None,
        sent: bytes | None = None,
    ) -> FetchAnswer:
        """FETCH ``items`` of ``uids``; a UID the server refuses (``NO``) or leaves out of the
        answer is recorded as a fetch fault (retried later with backoff) and left out here,
        so one bad message never holds up the others or the folder's cursor. ``sent``: the
        tag of that FETCH, sent ahead (``fetch_answer.send``): only its answer is read."""
        answer, refused = self._fetch_narrowing(scan, uids, items, sent=sent)
        if refused and len(refused) == len(uids) > 1:
            reason = next(iter(refused.values()))
            if any(is_temporary_refusal(IMAPClientError(r)) for r in refused.values()):
                # Everything refused with "busy"/"unavailable": the server, not the messages.
                raise ProviderTemporaryError(f"The IMAP server refused to return messages: {reason}")
        for uid in uids:
            data = answer.get(uid)
            if uid in refused:
                self._fetch_failed(scan, uid, f"the server refused to return it: {refused[uid]}")
            elif data is None or (expect is not None and data.get(expect) is None):
                self._fetch_failed(scan, uid, "the server left it out of its FETCH answer")
        return answer

    def _fetch_narrowing(
        self, scan: FolderScan, uids: list[int], items: list[str], *, sent: bytes | None = None
    ) -> tuple[FetchAnswer, dict[int, str]]:
        """A refused FETCH of many UIDs is split in halves until the refused ones are found.

        Some servers hang up instead of answering NO when one message cannot be read (Dovecot
        sends ``BYE Internal error`` for a message file it cannot open): then the pull logs in
        again, a limited number of times, and narrows the same way."""
        try:
            if sent is not None:
                return fetch_answer.finish(self.client, sent, uids), {}
            return fetch_answer.fetch(self.client, uids, items), {}
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                if self.reconnects >= MAX_RECONNECTS:
                    raise
                self._reconnect(scan)
                reason = f"the server closed the connection when asked for it: {_text(exc)}"
            else:
                reason = f"FETCH answered NO: {_text(exc)}"
            if len(uids) == 1:
                return {}, {uids[0]: reason}
        middle = len(uids) // 2
        first, first_refused = self._fetch_narrowing(scan, uids[:middle], items)
        second, second_refused = self._fetch_narrowing(scan, uids[middle:], items)
        return {**first, **second}, {**first_refused, **second_refused}

    def _reconnect(self, scan: FolderScan) -> None:
        """Log in again (same settings) and select the folder being read."""
        self._login_again(f"the server hung up while reading {scan.folder!r}: reconnected")
        self.placement = None  # a check made later uses the new connection
        self._reselect(scan)

    def _login_again(self, note: str) -> IMAPClient:
        """A new connection after the server hung up (at most ``MAX_RECONNECTS`` per pull)."""
        if self.reconnects >= MAX_RECONNECTS:
            raise ProviderTemporaryError(f"The IMAP server hung up {self.reconnects} times during one pull")
        self.reconnects += 1
        credentials = self.account.credentials if isinstance(self.account.credentials, dict) else {}
        self.client = connect(ImapSettings.from_account(self.account), str(credentials.get("password") or ""))
        self.own_clients.append(self.client)
        self._enable()
        self.selected = None  # a new connection has nothing selected
        self.report.notes.append(note)
        return self.client

    def _fetch_failed(self, scan: FolderScan, uid: int, reason: str) -> None:
        # Faults are written by the stores too (one that arrives clears its own): one writer
        # at a time. Rare, and the group being stored is about to be waited for anyway.
        self._wait_stored()
        key = ref_key(scan.folder, scan.uidvalidity, uid)
        locator = {"folder": scan.folder, "uidvalidity": scan.uidvalidity, "uid": uid}
        fault = record_fetch_failure(self.account, key, reason, locator=locator)
        self.fetch_faults += fault.state == FaultState.RETRYING
        if fault.state == FaultState.QUARANTINED:
            self.report.quarantined += 1
        logger.warning("IMAP fetch fault %s for account %s: %s", key, self.account.pk, reason)

    def _retry_refused(self) -> None:
        """Ask again for the messages the server refused earlier whose backoff has passed."""
        due = fetch_retries_due(self.account, key_prefix="imap:")
        by_folder: dict[tuple[str, int], list[tuple[str, int]]] = defaultdict(list)
        for fault in due:
            locator = fault.locator or {}
            try:
                folder, uidvalidity, uid = (
                    str(locator["folder"]),
                    int(locator["uidvalidity"]),
                    int(locator["uid"]),
                )
            except (KeyError, TypeError, ValueError):
                # No locator (recorded by hand or by older code): the key says the same.
                _prefix, rest = fault.provider_key.split(":", 1)
                folder, validity_text, uid_text = rest.rsplit(":", 2)
                uidvalidity, uid = int(validity_text), int(uid_text)
            if fault.provider_key in self.attempted:
                continue
            by_folder[(folder, uidvalidity)].append((fault.provider_key, uid))
        for (folder, uidvalidity), wanted in sorted(by_folder.items()):
            scan = self.scans.get(folder)
            if scan is None or scan.reset or scan.uidvalidity != uidvalidity:
                try:
                    selected = self.client.select_folder(folder, readonly=True)
                except IMAPClientError as exc:
                    if isinstance(exc, IMAPClientAbortError):
                        raise
                    self.report.notes.append(
                        f"could not open {folder!r} to retry refused messages: {_text(exc)}"
                    )
                    continue
                current = int(selected[b"UIDVALIDITY"])
                if current != uidvalidity:
                    # Renumbered: the old UIDs name nothing now; a renumbered import folder is
                    # re-read by Message-ID (``_rekey``), so the message is not lost.
                    for key, _uid in wanted:
                        clear_fault(self.account, key)
                    self.report.notes.append(
                        f"{len(wanted)} refused message(s) in {folder!r} dropped from the retry list: "
                        "the folder was renumbered (UIDVALIDITY changed) and is read afresh"
                    )
                    continue
                state = self.states.get(folder)
                role = self.folders.role_of(folder) or "inbox"
                scan = FolderScan(folder, role, uidvalidity, 0, 0, None, state, retry=True)
            else:
                self._reselect(scan)
                scan = FolderScan(folder, scan.role, uidvalidity, 0, 0, None, scan.state, retry=True)
            uids = [uid for _key, uid in wanted]
            present = set(self.client.search(["UID", ",".join(uid_ranges(uids))]))
            gone = [key for key, uid in wanted if uid not in present]
            for key in gone:
                # Expunged or moved away before it could be read: nothing of it is in the app,
                # so nothing is deleted; a move to Archive/Trash is tracked like any other.
                clear_fault(self.account, key)
            if gone:
                self.report.notes.append(
                    f"{len(gone)} refused message(s) no longer in {folder!r}: dropped from the retry list"
                )
            self._import(scan, sorted(present & set(uids)))

    def _body_groups(self, uids: list[int], meta: FetchAnswer, *, first: bool = False) -> list[list[int]]:
        """Groups of at most BODY_BATCH_COUNT messages and BODY_BATCH_BYTES; with ``first``
        the first group is FIRST_GROUP_COUNT messages (the newest, shown quickly)."""
        groups: list[list[int]] = []
        current: list[int] = []
        size = 0
        for uid in uids:
            message_size = int(meta[uid].get(b"RFC822.SIZE", 0))
            limit = FIRST_GROUP_COUNT if first and not groups else BODY_BATCH_COUNT
            if current and (size + message_size > BODY_BATCH_BYTES or len(current) >= limit):
                groups.append(current)
                current, size = [], 0
            current.append(uid)
            size += message_size
        if current:
            groups.append(current)
        return groups

    def _item(
        self, scan: FolderScan, uid: int, raw: bytes, meta: dict[bytes, object], headers_only_reason: str = ""
    ) -> RawItem:
        flags = meta.get(b"FLAGS") or ()
        internal = meta.get(b"INTERNALDATE")
        ref = RefData(
            key=ref_key(scan.folder, scan.uidvalidity, uid),
            folder=scan.folder,
            uidvalidity=scan.uidvalidity,
            uid=uid,
        )
        return RawItem(
            raw,
            ref,
            # Whatever sits in Sent was sent by the user (aliases, send-as included).
            incoming=False if scan.role == "sent" else None,
            is_read=SEEN in flags,  # type: ignore[operator]
            fallback_date=internal if isinstance(internal, datetime) else None,
            headers_only_reason=headers_only_reason,
        )

    def _store(
        self,
        scan: FolderScan,
        uid: int,
        raw: bytes,
        meta: dict[bytes, object],
        *,
        headers_only_reason: str = "",
    ) -> None:
        item = self._item(scan, uid, raw, meta, headers_only_reason)
        outcome = store_raw_message(
            self.account,
            item.raw,
            item.ref,
            incoming=item.incoming,
            is_read=item.is_read,
            fallback_date=item.fallback_date,
            headers_only_reason=item.headers_only_reason,
        )
        self._counted(item, meta, outcome)

    def _counted(self, item: RawItem, meta: dict[bytes, Any], outcome: StoreOutcome) -> None:
        """One message stored in this thread (a large one): counted, and its X-GM-MSGID kept."""
        self.report.count(outcome)
        if self.gmail:
            _save_gmail_ids(self.account, _gmail_ids([item], [meta], [outcome]))

    # --- where did it go? ---------------------------------------------------------------------
    def _track_arrivals(self, scan: FolderScan) -> None:
        """New live UIDs in Archive/Trash whose Message-ID we know: where messages went."""
        if not scan.new_uids or scan.reset:
            return
        self._reselect(scan)
        # One message the server will not return (NO, or Dovecot's BYE for a file it cannot
        # open) must not stop the pull: its cursor would never be saved, so every later pull
        # would stop at it too. The FETCH is narrowed (logging in again after a BYE) like the
        # import's. An arrival that cannot be read is only a hint lost: the message that left
        # INBOX or Sent is then looked for by the placement check, which cannot read it either
        # and so is incomplete — unplaced, never deleted — until the server returns it.
        live: dict[int, str] = {}
        refused: dict[int, str] = {}
        for batch in chunks(scan.new_uids, META_BATCH):
            answer, batch_refused = self._fetch_narrowing(scan, batch, ["FLAGS", MESSAGE_ID_FIELD])
            refused.update(batch_refused)
            for uid, data in answer.items():
                if DELETED not in _lower_flags(data):  # a \Deleted copy is no place to be
                    live[uid] = message_id_of_fetch(data)
        if refused:
            self.report.notes.append(
                f"{len(refused)} new message(s) in {scan.folder!r} could not be read "
                f"(UID {', '.join(str(u) for u in sorted(refused)[:5])}): "
                f"{next(iter(refused.values()))}; what left another folder for it is not deleted"
            )
        wanted = {mid for mid in live.values() if mid}
        if not wanted:
            return
        pks = self._message_pks(wanted)
        for uid, mid in sorted(live.items()):
            for pk in pks.get(mid, []):
                self.arrivals[pk].append((scan.role, Location(scan.folder, scan.uidvalidity, uid)))

    def _check(self) -> PlacementCheck:
        if self.placement is None:
            state = self.states.get(MAILBOX_STATE)
            previous = state.extra.get("folder_list") if state is not None else None
            self.placement = PlacementCheck(
                self.client, self.folders, previous_folder_list=previous, reconnect=self._login_again
            )
        return self.placement

    def _look_everywhere(self, mids: dict[int, str]) -> Placement:
        gmail_ids: dict[str, int] = {}
        if self.gmail:
            rows = GmailMessageId.objects.filter(account_id=self.account.pk, message_id__in=list(mids))
            gmail_ids = {mids[pk]: int(msgid) for pk, msgid in rows.values_list("message_id", "msgid")}
        return self._check().run(list(mids.values()), gmail_ids)

    def _resolve(self) -> None:
        vanished = set().union(*(s.vanished_keys for s in self.scans.values())) if self.scans else set()
        vanished_refs = list(
            ProviderRef.objects.filter(account_id=self.account.pk, key__in=list(vanished)).values_list(
                "message_id", flat=True
            )
        )
        unplaced = {row.message_id: row for row in UnplacedMessage.objects.filter(account=self.account)}
        trash_arrivals = [pk for pk, spots in self.arrivals.items() if any(r == "trash" for r, _ in spots)]
        candidates = sorted(set(vanished_refs) | set(trash_arrivals) | set(unplaced))
        if not candidates:
            return
        refs_by_message: dict[int, list[tuple[str, str, int | None, int | None]]] = defaultdict(list)
        for message_pk, key, folder, uidvalidity, uid in ProviderRef.objects.filter(
            account_id=self.account.pk, message_id__in=candidates
        ).values_list("message_id", "key", "folder", "uidvalidity", "uid"):
            refs_by_message[message_pk].append((key, folder, uidvalidity, uid))
        mids = dict(Message.objects.filter(pk__in=candidates).values_list("pk", "message_id"))

        relocate: dict[str, dict[str, object]] = {}
        to_delete: dict[int, list[str]] = {}
        to_check: dict[int, list[str]] = {}
        placed: list[int] = []
        for pk in candidates:
            refs = refs_by_message.get(pk, [])
            row = unplaced.get(pk)
            ref_keys = {key for key, *_ in refs}
            gone = [key for key in ref_keys if key in vanished]
            if row is not None:
                gone += [key for key in row.keys if key in ref_keys and key not in gone]
            present: list[tuple[str, Location]] = []
            for key, folder, uidvalidity, uid in refs:
                if key in gone or uidvalidity is None or uid is None:
                    continue
                there = self._still_there(folder, int(uidvalidity), int(uid))
                if there:
                    present.append(
                        (self.folders.role_of(folder), Location(folder, int(uidvalidity), int(uid)))
                    )
                elif there is not None:
                    gone.append(key)
            if not gone:
                if row is not None:
                    placed.append(pk)  # its references were moved meanwhile (a push): placed
                continue  # e.g. a copy landed in Trash while the original stayed: no effect
            spots = present + self.arrivals.get(pk, [])
            elsewhere = [loc for role, loc in spots if role != "trash"]
            if elsewhere:
                for key in gone:
                    relocate[key] = elsewhere[0].fields()
                placed.append(pk)
            elif any(role == "trash" for role, _ in spots):
                to_delete[pk] = sorted(ref_keys)
            elif mids.get(pk):
                to_check[pk] = gone
            else:
                self._unplaced(
                    unplaced, pk, "", gone, checked=False, complete=False,
                    reason="it has no Message-ID, so it cannot be looked for in other folders; "
                    "it is never deleted on a guess",
                )  # fmt: skip
        if to_check:
            found = self._look_everywhere({pk: mids[pk] for pk in to_check})
            for pk, gone in to_check.items():
                mid = mids[pk]
                spots = found.live.get(mid, [])
                elsewhere = [loc for role, loc in spots if role != "trash"]
                if elsewhere:
                    for key in gone:
                        relocate[key] = elsewhere[0].fields()
                    placed.append(pk)
                elif spots:
                    to_delete[pk] = sorted({key for key, *_ in refs_by_message.get(pk, [])})  # in Trash
                elif found.flagged.get(mid):
                    where = ", ".join(sorted(set(found.flagged[mid])))
                    self._unplaced(
                        unplaced, pk, mid, gone, checked=True, complete=False,
                        reason=f"only a copy flagged \\Deleted is left (in {where}); "
                        "it is not deleted here before that copy is expunged",
                    )  # fmt: skip
                elif not found.complete_for(mid):
                    self._unplaced(
                        unplaced, pk, mid, gone, checked=True, complete=False,
                        reason="not deleted: the check could not look everywhere — "
                        + "; ".join(found.problems_for(mid)[:3]),
                    )  # fmt: skip
                else:
                    row = self._unplaced(
                        unplaced, pk, mid, gone, checked=True, complete=True,
                        reason="no live copy found in any folder",
                    )  # fmt: skip
                    if self._confirmed(row):
                        to_delete[pk] = sorted({key for key, *_ in refs_by_message.get(pk, [])} | set(gone))
        if relocate:
            relocate_refs(self.account, relocate)
        if placed:
            UnplacedMessage.objects.filter(account=self.account, message_id__in=placed).delete()
        if to_delete:
            self._delete(to_delete, guard=True)
        waiting = UnplacedMessage.objects.filter(account=self.account).count()
        if waiting:
            self.report.notes.append(
                f"{waiting} message(s) left their folder and are not placed yet: not deleted, "
                "checked again on the next pull"
            )

    def _unplaced(
        self,
        rows: dict[int, UnplacedMessage],
        pk: int,
        mid: str,
        gone: list[str],
        *,
        checked: bool,
        complete: bool,
        reason: str,
    ) -> UnplacedMessage:
        """Record one more check of a message that is not placed; a complete check that found
        nothing extends the streak, any other outcome ends it."""
        now = timezone.now()
        row = rows.get(pk) or UnplacedMessage(
            account=self.account, message_id=pk, message_id_header=mid[:998], first_missing_at=now
        )
        row.keys = sorted(set(gone))
        row.reason = reason[:2000]
        if checked:
            row.checks += 1
            row.last_checked_at = now
        row.last_check_complete = complete
        if complete:
            if row.complete_streak == 0:
                row.streak_started_at = now
            row.complete_streak += 1
            if row.complete_streak < CONFIRMING_CHECKS:
                row.reason = (
                    f"{reason} ({row.complete_streak} complete check so far); deleted when a later "
                    "pull finds none either"
                )
        else:
            row.complete_streak = 0
            row.streak_started_at = None
        row.save()
        rows[pk] = row
        return row

    def _confirmed(self, row: UnplacedMessage) -> bool:
        """Gone from every folder by ``CONFIRMING_CHECKS`` complete checks in a row, the last
        at least the configured delay after the first."""
        if row.complete_streak < CONFIRMING_CHECKS or row.streak_started_at is None:
            return False
        delay = timedelta(seconds=settings.IMAP_DELETE_CONFIRM_DELAY_SECONDS)
        if timezone.now() - row.streak_started_at < delay:
            row.reason = "no live copy found in any folder; deleted after the confirmation delay"
            row.save(update_fields=["reason"])
            return False
        return True

    def _still_there(self, folder: str, uidvalidity: int, uid: int) -> bool | None:
        """True/False when known; None when the reference is too stale to tell (a folder
        whose UIDVALIDITY changed): that is no evidence either way."""
        scan = self.scans.get(folder)
        if scan is not None:
            # Scanned this run: present unless reported vanished (checked by the caller).
            return True if scan.uidvalidity == uidvalidity else None
        try:
            selected = self.client.select_folder(folder, readonly=True)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                raise
            # Only a folder that no longer exists is evidence; any other refusal is not.
            return False if "[NONEXISTENT]" in str(exc) else None
        if int(selected[b"UIDVALIDITY"]) != uidvalidity:
            return None
        return uid in self.client.search(["UID", str(uid), "UNDELETED"])

    # --- deleting -----------------------------------------------------------------------------
    def _delete(self, to_delete: dict[int, list[str]], *, guard: bool) -> None:
        count = len(to_delete)
        if guard and exceeds_mass_delete_guard(self.account, count):
            total = Message.objects.filter(account_id=self.account.pk).count()
            pause_for_mass_delete(self.account, count, total)
            state, _ = FolderState.objects.get_or_create(account=self.account, folder=MAILBOX_STATE)
            held = dict(state.extra.get("held_deletions") or {})
            mids = dict(Message.objects.filter(pk__in=list(to_delete)).values_list("pk", "message_id"))
            for pk, keys in to_delete.items():
                for key in keys:
                    held[key] = mids.get(pk, "")
            state.extra["held_deletions"] = held
            state.save(update_fields=["extra"])
            # Held, not unplaced: the resume re-checks them (``_resolve_held``).
            UnplacedMessage.objects.filter(account=self.account, message_id__in=list(to_delete)).delete()
            self.report.paused = True
            self.report.notes.append(f"{count} deletions held until the sync is resumed")
            return
        keys = [key for group in to_delete.values() for key in group]
        self.report.deleted += apply_external_deletions(self.account, keys, where="the IMAP mailbox")

    def _held_deletions(self) -> dict[str, str]:
        state = self.states.get(MAILBOX_STATE)
        if state is None:
            return {}
        return dict(state.extra.get("held_deletions") or {})

    def _resolve_held(self, held: dict[str, str]) -> None:
        """The user resumed after the guard: re-check each held deletion, then apply it —
        or, when the re-check could not look everywhere, keep it unplaced (not deleted)."""
        refs = dict(
            ProviderRef.objects.filter(account_id=self.account.pk, key__in=list(held)).values_list(
                "key", "message_id"
            )
        )
        by_pk: dict[int, list[str]] = defaultdict(list)
        for key, pk in refs.items():
            by_pk[pk].append(key)
        mids = dict(Message.objects.filter(pk__in=list(by_pk)).values_list("pk", "message_id"))
        found = self._look_everywhere({pk: mids[pk] for pk in by_pk if mids.get(pk)})
        relocate: dict[str, dict[str, object]] = {}
        to_delete: dict[int, list[str]] = {}
        rows: dict[int, UnplacedMessage] = {
            row.message_id: row for row in UnplacedMessage.objects.filter(account=self.account)
        }
        for pk, keys in by_pk.items():
            mid = mids.get(pk) or ""
            spots = found.live.get(mid, []) if mid else []
            elsewhere = [loc for role, loc in spots if role != "trash"]
            if elsewhere:  # it came back (a restored mailbox): no deletion
                for key in keys:
                    relocate[key] = elsewhere[0].fields()
            elif mid and (spots or (found.complete_for(mid) and not found.flagged.get(mid))):
                to_delete[pk] = keys  # in Trash, or (again) gone from every folder
            else:
                why = "; ".join(found.problems_for(mid)[:3]) or "only a copy flagged \\Deleted is left"
                self._unplaced(
                    rows, pk, mid, keys, checked=bool(mid), complete=False,
                    reason=f"held deletion not applied after the resume: {why}",
                )  # fmt: skip
        if relocate:
            relocate_refs(self.account, relocate)
        if to_delete:
            self._delete(to_delete, guard=False)
        state = FolderState.objects.get(account=self.account, folder=MAILBOX_STATE)
        state.extra.pop("held_deletions", None)
        state.save(update_fields=["extra"])
        self.report.notes.append(f"{len(held)} held deletions re-checked after the resume")

    # --- bookkeeping -----------------------------------------------------------------------------
    def _existing_keys(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        return set(
            ProviderRef.objects.filter(account_id=self.account.pk)
            .filter(any_of("key", keys))
            .values_list("key", flat=True)
        )

    def _message_pks(self, message_ids: set[str]) -> dict[str, list[int]]:
        result: dict[str, list[int]] = defaultdict(list)
        wanted = sorted(message_ids)
        for start in range(0, len(wanted), 1000):
            for pk, mid in Message.objects.filter(
                account_id=self.account.pk, message_id__in=wanted[start : start + 1000]
            ).values_list("pk", "message_id"):
                result[mid].append(pk)
        return result

    def _save_states(self) -> None:
        """All folder cursors in one statement (an upsert on account + folder)."""
        now = timezone.now()
        rows = [
            FolderState(
                account=self.account,
                folder=scan.folder,
                role=scan.role,
                uidvalidity=scan.uidvalidity,
                uidnext=scan.uidnext,
                highestmodseq=scan.highestmodseq,
                # Whatever left a folder and is not placed yet is kept in UnplacedMessage and
                # checked every pull, so no folder needs a full recheck.
                extra={
                    "exists": scan.exists,
                    "deleted_waiting": sorted(scan.deleted_waiting),
                    **_unseen_kept(scan),
                },
                updated_at=now,
            )
            for scan in self.scans.values()
        ]
        if rows:
            FolderState.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["account", "folder"],
                update_fields=["role", "uidvalidity", "uidnext", "highestmodseq", "extra", "updated_at"],
            )

    def _save_folder_list(self) -> None:
        """The folder list this pull saw: the next check is complete only if it sees the same."""
        try:
            folder_list = self._check().folder_list()
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                raise
            folder_list = ""  # unknown: the next check cannot be complete
            self.report.notes.append(f"could not list the folders: {_text(exc)}")
        state, _ = FolderState.objects.get_or_create(account=self.account, folder=MAILBOX_STATE)
        if state.extra.get("folder_list") != folder_list:
            state.extra = {**state.extra, "folder_list": folder_list}
            state.save(update_fields=["extra"])


def _gmail_ids(
    items: Sequence[RawItem], metas: Sequence[dict[bytes, Any]], outcomes: Sequence[StoreOutcome]
) -> dict[str, int]:
    """Ref key → X-GM-MSGID of what was stored (or was known already)."""
    return {
        item.ref.key: int(meta[b"X-GM-MSGID"])
        for item, meta, outcome in zip(items, metas, outcomes, strict=True)
        if meta.get(b"X-GM-MSGID") is not None and outcome in (StoreOutcome.CREATED, StoreOutcome.DUPLICATE)
    }


def _save_gmail_ids(account: MailAccount, gmail_ids: dict[str, int]) -> None:
    """X-GM-MSGIDs of what was just stored (Gmail-style servers): the placement check looks a
    message up by it in All Mail."""
    if not gmail_ids:
        return
    pks = dict(
        ProviderRef.objects.filter(account_id=account.pk, key__in=list(gmail_ids)).values_list(
            "key", "message_id"
        )
    )
    GmailMessageId.objects.bulk_create(
        [
            GmailMessageId(account=account, message_id=pks[key], msgid=msgid)
            for key, msgid in gmail_ids.items()
            if key in pks
        ],
        ignore_conflicts=True,
    )


def _vanished_since(client: IMAPClient, uid_set: str, modseq: int) -> tuple[set[int], dict[int, bool]]:
    """UIDs of ``uid_set`` expunged — or flagged ``\\Deleted`` — since ``modseq`` (QRESYNC
    ``UID FETCH … (FLAGS) (CHANGEDSINCE m VANISHED)``).

    Sent through imaplib (as imap_client's untagged helpers read it): imapclient's
    ``fetch()`` accepts a range string on the wire but then filters its result with
    ``int()`` of each id, which fails on "1:100000" — and we want the VANISHED lines.
    """
    clear_untagged(client, "VANISHED", "FETCH")
    typ, data = client._imap.uid("FETCH", uid_set, f"(UID FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
    if typ != "OK":
        raise IMAPClientError(f"UID FETCH VANISHED failed: {data!r}")
    gone: set[int] = set()
    for line in take_untagged(client, "VANISHED"):
        gone.update(parse_uid_set(line.replace(b"(EARLIER)", b"").strip()))
    changed = [item for item in data if isinstance(item, bytes)]
    seen: dict[int, bool] = {}
    for uid, fields in parse_fetch_response(changed, False, True).items():
        flags = _lower_flags(fields)
        if DELETED in flags:
            gone.add(int(uid))
        else:
            seen[int(uid)] = b"\\seen" in flags
    return gone, seen


def _lower_flags(data: dict[bytes, Any]) -> set[bytes]:
    return {f.lower() if isinstance(f, bytes) else str(f).lower().encode() for f in data.get(b"FLAGS") or ()}


def _text(exc: BaseException) -> str:
    return clean_text(" ".join(str(a.decode() if isinstance(a, bytes) else a) for a in exc.args) or repr(exc))


def _unseen_kept(scan: FolderScan) -> dict[str, list[int]]:
    """The unread UIDs to keep with the cursor: this pull's reading, or the last one while the
    folder did not change (CONDSTORE said so) and its UIDs still mean the same messages."""
    if scan.unseen is not None:
        return {"unseen": scan.unseen}
    state = scan.state
    before = state.extra.get("unseen") if state is not None else None
    if isinstance(before, list) and state is not None and state.uidvalidity == scan.uidvalidity:
        return {"unseen": before}
    return {}
