"""IMAP → app: new messages, and deletions on positive evidence only.

Per folder the cursor is (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, EXISTS):

* INBOX and Sent are imported (first sync: the account's past-days range; later: every
  new UID). Archive and Trash are only *tracked*: their new UIDs tell where a message that
  left INBOX or Sent went.
* What left a folder is found with QRESYNC (``UID FETCH … (CHANGEDSINCE m VANISHED)``) when
  offered, else by comparing the UIDs we hold references for with ``UID SEARCH ALL``. An
  unchanged HIGHESTMODSEQ (or, without CONDSTORE, unchanged UIDNEXT and EXISTS) skips the
  folder entirely.
* A message that left its folder is deleted in the app only when it is now in Trash or in
  no folder at all (every folder searched by Message-ID). Anywhere else — Archive, a
  project folder — its reference just follows it (ARCHITECTURE.md, decision 1).
* A new UIDVALIDITY re-keys the references by Message-ID: no duplicates, no deletions.
* Too many deletions at once pause the account (the mass-delete guard); the held
  deletions are re-checked and applied only after the user resumed the sync.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from inbox.models import MailAccount, Message, ProviderRef, Tombstone
from inbox.services import apply_external_deletions, pause_for_mass_delete
from inbox.services.mailboxes import report_initial_sync_progress
from inbox.services.refs import relocate_refs
from inbox.types import RefData
from sync.errors import ProviderTemporaryError
from sync.models import FolderState
from sync.providers.base import PullReport
from sync.providers.imap.client import (
    chunks,
    clear_untagged,
    fetch_message_ids,
    find_by_message_ids,
    has,
    parse_uid_set,
    ref_key,
    take_untagged,
    uid_ranges,
)
from sync.providers.imap.folders import FolderMap, selectable_folders
from sync.store import StoreOutcome, exceeds_mass_delete_guard, store_raw_message

logger = logging.getLogger(__name__)

MAILBOX_STATE = ""  # FolderState.folder of the account-wide state (held deletions)
IMPORT_ROLES = ("inbox", "sent")
TRACK_ROLES = ("archive", "trash")
# Larger messages are imported from their headers only (the provider keeps the whole).
MAX_FETCH_BYTES = 25 * 1024 * 1024
BODY_BATCH_BYTES = 8 * 1024 * 1024
BODY_BATCH_COUNT = 250
META_BATCH = 1000
VANISHED_BATCH = 2000  # UID ranges per UID FETCH … VANISHED (well under line limits)
SEEN = b"\\Seen"


@dataclass
class Location:
    folder: str
    uidvalidity: int
    uid: int

    @property
    def key(self) -> str:
        return ref_key(self.folder, self.uidvalidity, self.uid)

    def fields(self) -> dict[str, object]:
        return {"key": self.key, "folder": self.folder, "uidvalidity": self.uidvalidity, "uid": self.uid}


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
    reset: bool = False


class ImapPull:
    def __init__(self, account: MailAccount, client: IMAPClient, folders: FolderMap) -> None:
        self.account = account
        self.client = client
        self.folders = folders
        self.report = PullReport()
        self.qresync = has(client, "QRESYNC") and has(client, "ENABLE")
        self.condstore = self.qresync or (has(client, "CONDSTORE") and has(client, "ENABLE"))
        self.scans: dict[str, FolderScan] = {}
        self.states: dict[str, FolderState] = {}
        self.searched_everywhere = False
        self.unresolved: set[str] = set()  # left a folder, whereabouts not proven yet
        # message pk → locations it newly showed up at in a tracked-only folder, by role
        self.arrivals: dict[int, list[tuple[str, Location]]] = defaultdict(list)

    # --- the run -----------------------------------------------------------------------
    def run(self) -> PullReport:
        if self.qresync:
            self.client.enable("QRESYNC")
        elif self.condstore:
            self.client.enable("CONDSTORE")
        # Every cursor of the account in one query (the account-wide row holds held deletions).
        self.states = {state.folder: state for state in FolderState.objects.filter(account=self.account)}
        held = self._held_deletions()
        roles = [(role, self.folders.get(role)) for role in (*TRACK_ROLES, *IMPORT_ROLES)]
        for role, folder in roles:
            if folder and folder not in self.scans:
                scan = self._scan(folder, role)
                if scan is not None:
                    self.scans[folder] = scan
        for scan in self.scans.values():
            if scan.reset:
                self._rekey(scan)
        # The status page's progress bar: a mailbox's first pull reports how far it got.
        first = [s for s in self.scans.values() if s.role in IMPORT_ROLES and s.state is None]
        total = sum(len(s.new_uids) for s in first)
        self.progress = [0, total] if self.account.initial_sync_finished_at is None else None
        for scan in self.scans.values():
            if scan.role in IMPORT_ROLES:
                self._import(scan)
            else:
                self._track_arrivals(scan)
        if held:
            self._resolve_held(held)
        self._resolve()
        self._save_states()
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
            # while a folder could not be looked into.
            self.report.notes.append(f"could not open {folder!r}: {exc}")
            return None
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

        if state is None or state.uidvalidity is None:
            if role in IMPORT_ROLES and exists:
                since = (timezone.now() - timedelta(days=self.account.sync_past_days)).date()
                scan.new_uids = sorted(self.client.search(["SINCE", since]))
            return scan
        if state.uidvalidity != uidvalidity:
            scan.reset = True
            return scan
        unchanged = (
            highestmodseq is not None
            and state.highestmodseq == highestmodseq
            and state.uidnext == scan.uidnext
        ) or (highestmodseq is None and state.uidnext == scan.uidnext and state.extra.get("exists") == exists)
        if unchanged and not state.extra.get("recheck"):
            return scan
        if state.uidnext is not None and scan.uidnext > state.uidnext:
            start = state.uidnext
            # "n:*" always matches the highest UID, even one below n: filter.
            scan.new_uids = sorted(u for u in self.client.search(["UID", f"{start}:*"]) if u >= start)
        scan.vanished_keys = self._vanished(scan)
        return scan

    def _reselect(self, scan: FolderScan) -> None:
        """Select a scanned folder again; its UIDVALIDITY must still be the one scanned."""
        selected = self.client.select_folder(scan.folder, readonly=True)
        if int(selected[b"UIDVALIDITY"]) != scan.uidvalidity:
            # UIDs from before and after cannot be mixed: stop, and start over next time.
            raise ProviderTemporaryError(f"UIDVALIDITY of {scan.folder} changed during the sync")

    def _known_uids(self, folder: str, uidvalidity: int) -> dict[int, str]:
        rows = ProviderRef.objects.filter(
            account_id=self.account.pk, folder=folder, uidvalidity=uidvalidity, uid__isnull=False
        ).values_list("uid", "key")
        return {int(uid): key for uid, key in rows if uid is not None}

    def _vanished(self, scan: FolderScan) -> set[str]:
        known = self._known_uids(scan.folder, scan.uidvalidity)
        if not known:
            return set()
        gone: set[int] = set()
        state = scan.state
        recheck = state is not None and state.extra.get("recheck")
        if (
            self.qresync
            and state is not None
            and state.highestmodseq
            and scan.highestmodseq is not None
            and not recheck
        ):
            # Only what was expunged since our modseq, asked about the UIDs we care about.
            # The known UIDs go as compact ranges ("1:100000", not 100,000 numbers): a
            # 100,000-message mailbox took 50 UID FETCH commands of 2,000 UIDs per change.
            ranges = uid_ranges(list(known))
            for start in range(0, len(ranges), VANISHED_BATCH):
                batch = ranges[start : start + VANISHED_BATCH]
                gone |= _vanished_since(self.client, ",".join(batch), state.highestmodseq)
        else:
            present = set(self.client.search("ALL")) if scan.exists else set()
            gone = set(known) - present
        return {known[uid] for uid in gone if uid in known}

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
            uids = self.client.search("ALL")
            for uid, mid in fetch_message_ids(self.client, uids).items():
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
    def _import(self, scan: FolderScan) -> None:
        if not scan.new_uids:
            return
        keys = {uid: ref_key(scan.folder, scan.uidvalidity, uid) for uid in scan.new_uids}
        known = self._existing_keys(list(keys.values()))
        tombstoned = set(
            Tombstone.objects.filter(
                account_id=self.account.pk, provider_key__in=list(keys.values())
            ).values_list("provider_key", flat=True)
        )
        self.report.duplicates += sum(1 for k in keys.values() if k in known)
        self.report.tombstoned += sum(1 for k in keys.values() if k in tombstoned and k not in known)
        todo = [uid for uid, key in keys.items() if key not in known and key not in tombstoned]
        if not todo:
            return
        self._reselect(scan)
        for batch in chunks(todo, META_BATCH):
            meta = self.client.fetch(batch, ["RFC822.SIZE", "FLAGS", "INTERNALDATE"])
            small = [u for u in batch if u in meta and int(meta[u].get(b"RFC822.SIZE", 0)) <= MAX_FETCH_BYTES]
            large = [u for u in batch if u in meta and u not in small]
            for group in self._body_groups(small, meta):
                bodies = self.client.fetch(group, ["BODY.PEEK[]"])
                # One commit per fetched group instead of one per message: each message is
                # still its own savepoint (a failing one is quarantined alone), but the WAL
                # is flushed once per group — commits dominated the initial sync otherwise.
                with transaction.atomic():
                    for uid in group:
                        raw = bodies.get(uid, {}).get(b"BODY[]")
                        if raw is not None:
                            self._store(scan, uid, raw, meta[uid])
                if self.progress is not None and scan.state is None:
                    self.progress[0] += len(group)
                    report_initial_sync_progress(self.account, done=self.progress[0], total=self.progress[1])
            for uid in large:
                headers = self.client.fetch([uid], ["BODY.PEEK[HEADER]"]).get(uid, {}).get(b"BODY[HEADER]")
                if headers is not None:
                    size = int(meta[uid].get(b"RFC822.SIZE", 0))
                    reason = (
                        f"message of {size / 1_048_576:.1f} MB is above the "
                        f"{MAX_FETCH_BYTES // 1_048_576} MB import limit: only its headers were imported"
                    )
                    self._store(scan, uid, headers, meta[uid], headers_only_reason=reason)

    def _body_groups(self, uids: list[int], meta: dict[int, dict[bytes, object]]) -> list[list[int]]:
        groups: list[list[int]] = []
        current: list[int] = []
        size = 0
        for uid in uids:
            message_size = int(meta[uid].get(b"RFC822.SIZE", 0))  # type: ignore[call-overload]
            if current and (size + message_size > BODY_BATCH_BYTES or len(current) >= BODY_BATCH_COUNT):
                groups.append(current)
                current, size = [], 0
            current.append(uid)
            size += message_size
        if current:
            groups.append(current)
        return groups

    def _store(
        self,
        scan: FolderScan,
        uid: int,
        raw: bytes,
        meta: dict[bytes, object],
        *,
        headers_only_reason: str = "",
    ) -> None:
        flags = meta.get(b"FLAGS") or ()
        internal = meta.get(b"INTERNALDATE")
        ref = RefData(
            key=ref_key(scan.folder, scan.uidvalidity, uid),
            folder=scan.folder,
            uidvalidity=scan.uidvalidity,
            uid=uid,
        )
        outcome = store_raw_message(
            self.account,
            raw,
            ref,
            # Whatever sits in Sent was sent by the user (aliases, send-as included).
            incoming=False if scan.role == "sent" else None,
            is_read=SEEN in flags,  # type: ignore[operator]
            fallback_date=internal if isinstance(internal, datetime) else None,
            headers_only_reason=headers_only_reason,
        )
        if outcome == StoreOutcome.CREATED:
            self.report.created += 1
        elif outcome == StoreOutcome.DUPLICATE:
            self.report.duplicates += 1
        elif outcome == StoreOutcome.TOMBSTONED:
            self.report.tombstoned += 1
        else:
            self.report.quarantined += 1

    # --- where did it go? ---------------------------------------------------------------------
    def _track_arrivals(self, scan: FolderScan) -> None:
        """New UIDs in Archive/Trash whose Message-ID we know: where messages went."""
        if not scan.new_uids or scan.reset:
            return
        self._reselect(scan)
        found = fetch_message_ids(self.client, scan.new_uids)
        wanted = {mid for mid in found.values() if mid}
        if not wanted:
            return
        pks = self._message_pks(wanted)
        for uid, mid in sorted(found.items()):
            for pk in pks.get(mid, []):
                self.arrivals[pk].append((scan.role, Location(scan.folder, scan.uidvalidity, uid)))

    def _resolve(self) -> None:
        vanished = set().union(*(s.vanished_keys for s in self.scans.values())) if self.scans else set()
        vanished_refs = list(
            ProviderRef.objects.filter(account_id=self.account.pk, key__in=list(vanished)).values_list(
                "message_id", flat=True
            )
        )
        trash_arrivals = [pk for pk, spots in self.arrivals.items() if any(r == "trash" for r, _ in spots)]
        candidates = sorted(set(vanished_refs) | set(trash_arrivals))
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
        to_search: dict[int, list[str]] = {}
        for pk in candidates:
            refs = refs_by_message.get(pk, [])
            gone = [key for key, *_ in refs if key in vanished]
            present: list[tuple[str, Location]] = []
            for key, folder, uidvalidity, uid in refs:
                if key in vanished or uidvalidity is None or uid is None:
                    continue
                there = self._still_there(folder, int(uidvalidity), int(uid))
                if there:
                    present.append(
                        (self.folders.role_of(folder), Location(folder, int(uidvalidity), int(uid)))
                    )
                elif there is not None:
                    gone.append(key)
            if not gone:
                continue  # e.g. a copy landed in Trash while the original stayed: no effect
            arrivals = self.arrivals.get(pk, [])
            elsewhere = [loc for role, loc in present + arrivals if role != "trash"]
            if elsewhere:
                for key in gone:
                    relocate[key] = elsewhere[0].fields()
            elif any(role == "trash" for role, _ in present + arrivals):
                to_delete[pk] = gone
            elif mids.get(pk):
                to_search[pk] = gone
            else:
                self.report.notes.append(
                    f"a message without Message-ID left {', '.join(gone)}; "
                    "it cannot be looked up elsewhere, so it stays"
                )
        if to_search:
            found = self._search_everywhere({pk: mids[pk] for pk in to_search})
            for pk, gone in to_search.items():
                spots = found.get(pk, [])
                elsewhere = [loc for role, loc in spots if role != "trash"]
                if elsewhere:
                    for key in gone:
                        relocate[key] = elsewhere[0].fields()
                elif spots or self.searched_everywhere:
                    to_delete[pk] = gone  # in Trash, or gone from every folder
                else:
                    # Looked for again next time (the folder is marked for a recheck).
                    self.unresolved.update(gone)
                    self.report.notes.append(
                        f"{mids[pk]} left {', '.join(gone)}; not deleted: not every folder could be searched"
                    )
        if relocate:
            relocate_refs(self.account, relocate)
        if to_delete:
            self._delete(to_delete, guard=True)

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
        return uid in self.client.search(["UID", str(uid)])

    def _search_everywhere(self, mids_by_pk: dict[int, str]) -> dict[int, list[tuple[str, Location]]]:
        """Look for messages by Message-ID in every selectable folder, Trash last."""
        wanted = {mid: pk for pk, mid in mids_by_pk.items()}
        found: dict[int, list[tuple[str, Location]]] = defaultdict(list)
        folders = [name for _flags, name in selectable_folders(self.client)]
        trash = self.folders.trash
        ordered = [f for f in folders if f != trash] + ([trash] if trash in folders else [])
        remaining = dict(wanted)
        self.searched_everywhere = True
        for folder in ordered:
            if not remaining:
                break
            role = self.folders.role_of(folder)
            try:
                selected = self.client.select_folder(folder, readonly=True)
            except IMAPClientError as exc:
                if isinstance(exc, IMAPClientAbortError):
                    raise
                # A folder we could not look into might hold it: "gone from every
                # folder" cannot be claimed any more (found in Trash still can).
                self.searched_everywhere = False
                self.report.notes.append(f"could not search {folder!r}: {exc}")
                continue
            if not selected.get(b"EXISTS"):
                continue
            uidvalidity = int(selected[b"UIDVALIDITY"])
            for mid, uids in find_by_message_ids(self.client, list(remaining)).items():
                if uids:
                    found[remaining[mid]].append((role, Location(folder, uidvalidity, uids[0])))
                    if role != "trash":
                        remaining.pop(mid)  # found outside Trash: settled
        return found

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
        """The user resumed after the guard: re-check each held deletion, then apply it."""
        refs = dict(
            ProviderRef.objects.filter(account_id=self.account.pk, key__in=list(held)).values_list(
                "key", "message_id"
            )
        )
        by_pk: dict[int, list[str]] = defaultdict(list)
        for key, pk in refs.items():
            by_pk[pk].append(key)
        mids = dict(Message.objects.filter(pk__in=list(by_pk)).values_list("pk", "message_id"))
        found = self._search_everywhere({pk: mids[pk] for pk in by_pk if mids.get(pk)})
        relocate: dict[str, dict[str, object]] = {}
        to_delete: dict[int, list[str]] = {}
        for pk, keys in by_pk.items():
            elsewhere = [loc for role, loc in found.get(pk, []) if role != "trash"]
            if elsewhere:  # it came back (a restored mailbox): no deletion
                for key in keys:
                    relocate[key] = elsewhere[0].fields()
            elif mids.get(pk) and (found.get(pk) or self.searched_everywhere):
                to_delete[pk] = keys
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
        found: set[str] = set()
        for start in range(0, len(keys), 1000):
            found |= set(
                ProviderRef.objects.filter(
                    account_id=self.account.pk, key__in=keys[start : start + 1000]
                ).values_list("key", flat=True)
            )
        return found

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
                # "recheck": a message that left this folder could not be placed yet; QRESYNC
                # reports a vanished UID only once, so the next pull compares UID lists.
                extra={"exists": scan.exists, "recheck": bool(scan.vanished_keys & self.unresolved)},
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


def _vanished_since(client: IMAPClient, uid_set: str, modseq: int) -> set[int]:
    """UIDs of ``uid_set`` expunged since ``modseq`` (QRESYNC ``UID FETCH … VANISHED``).

    Sent through imaplib (as imap_client's untagged helpers read it): imapclient's
    ``fetch()`` accepts a range string on the wire but then filters its result with
    ``int()`` of each id, which fails on "1:100000" — and we only want the VANISHED lines.
    """
    clear_untagged(client, "VANISHED")
    typ, data = client._imap.uid("FETCH", uid_set, f"(UID) (CHANGEDSINCE {modseq} VANISHED)")
    if typ != "OK":
        raise IMAPClientError(f"UID FETCH VANISHED failed: {data!r}")
    gone: set[int] = set()
    for line in take_untagged(client, "VANISHED"):
        gone.update(parse_uid_set(line.replace(b"(EARLIER)", b"").strip()))
    return gone
