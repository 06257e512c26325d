"""App → IMAP: archive, unarchive and trash as UID MOVEs, with the safety checks of
ARCHITECTURE.md.

* archive   = INBOX → Archive   (messages elsewhere — Sent, other folders — stay put)
* unarchive = Archive → INBOX
* trash     = every copy we know of, from any folder → Trash (never a permanent delete)

A change's references are a snapshot taken when the user acted; the message may have
moved since (an earlier change, the user's own mail client). So nothing is decided from
the snapshot alone: each message is first confirmed on the server — same UIDVALIDITY and
the expected Message-ID at that UID — and otherwise looked up by Message-ID in the
folders that matter for the change. Zero or several matches: nothing is done to that
message and the reason is recorded on the change. The action then follows from where the
message really is (in Archive already = done).

Consecutive changes of one kind are batched: one UID set per source folder. Without
MOVE the fallback is COPY, STORE \\Deleted and UID EXPUNGE of exactly those UIDs — never a
plain EXPUNGE, which would also purge whatever else the user had flagged \\Deleted — and a
retry after a half-done COPY only removes the source copy. New locations (COPYUID) are
reported so the app's references follow the messages, and carried forward to later
changes of the same push.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from imapclient import DELETED, IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from sync.errors import ProviderTemporaryError
from sync.providers.base import Outcome, PushRequest, PushResult
from sync.providers.imap.client import (
    chunks,
    clear_untagged,
    copyuid_map,
    fetch_message_ids,
    find_by_message_ids,
    has,
    ref_key,
    uid_ranges,
)
from sync.providers.imap.errors import is_temporary_refusal
from sync.providers.imap.folders import FolderMap

DETAIL_LIMIT = 20  # per-message notes listed on a change
MOVE_BATCH = 1000  # UIDs per MOVE/COPY command (sent as ranges, well under line limits)
KINDS = ("archive", "unarchive", "trash")


@dataclass(frozen=True)
class Location:
    folder: str
    uidvalidity: int
    uid: int

    def fields(self) -> dict[str, object]:
        return {
            "key": ref_key(self.folder, self.uidvalidity, self.uid),
            "folder": self.folder,
            "uidvalidity": self.uidvalidity,
            "uid": self.uid,
        }


@dataclass
class Item:
    """One message reference of one change, and what became of it."""

    change_id: int
    key: str
    folder: str
    uidvalidity: int | None
    uid: int | None
    message_id: str
    current: Location | None = None  # where the server has it now (confirmed)
    status: str = ""  # moved | already | left | not_found | ambiguous | failed
    note: str = ""
    new: dict[str, object] | None = None

    @classmethod
    def from_ref(cls, change_id: int, ref: dict[str, object]) -> Item:
        def number(value: object) -> int | None:
            try:
                return int(value) if value is not None else None  # type: ignore[call-overload]
            except (TypeError, ValueError):
                return None

        return cls(
            change_id=change_id,
            key=str(ref.get("key") or ""),
            folder=str(ref.get("folder") or ""),
            uidvalidity=number(ref.get("uidvalidity")),
            uid=number(ref.get("uid")),
            message_id=str(ref.get("message_id") or ""),
        )

    def label(self) -> str:
        return self.message_id or self.key

    def settle(self, status: str, note: str) -> None:
        self.status, self.note = status, note


class ImapPush:
    def __init__(self, client: IMAPClient, folders: FolderMap) -> None:
        self.client = client
        self.folders = folders
        self.can_move = has(client, "MOVE")
        self.can_uid_expunge = has(client, "UIDPLUS")
        # old key → new location, for the later changes of this push (their snapshots
        # were taken before the earlier ones moved anything).
        self.moved: dict[str, dict[str, object]] = {}

    def run(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        results: list[PushResult] = []
        for kind, group in _runs(requests):
            results += self._apply(kind, group)
        return results

    # --- one run of same-kind changes ---------------------------------------------------------
    def _apply(self, kind: str, requests: list[PushRequest]) -> list[PushResult]:
        target = self._target(kind)
        if not target:
            reason = (
                f"IMAP cannot apply a {kind!r} change"
                if kind not in KINDS
                else f"this mailbox has no {'Trash' if kind == 'trash' else 'Archive'} folder"
            )
            return [PushResult(r.change_id, Outcome.FAILED, error=reason) for r in requests]
        items_by_change: dict[int, list[Item]] = {}
        for request in requests:
            items: list[Item] = []
            keys: set[str] = set()  # a set, not a scan of items: 10,000 refs made it O(n²)
            for ref in request.refs:
                item = self._carried_forward(Item.from_ref(request.change_id, ref))
                if item.key not in keys:
                    keys.add(item.key)
                    items.append(item)
            items_by_change[request.change_id] = items
        every = [i for items in items_by_change.values() for i in items]
        self._confirm(every)
        self._locate(kind, [i for i in every if i.current is None and not i.status])
        by_source: dict[str, list[Item]] = defaultdict(list)
        for item in every:
            if item.current is not None and not item.status:
                source = self._decide(kind, target, item)
                if source:
                    by_source[source].append(item)
        for source, items in by_source.items():
            self._move(source, target, items)
        for item in every:
            if item.new is not None:
                self.moved[item.key] = item.new
        return [self._result(target, r, items_by_change[r.change_id]) for r in requests]

    def _target(self, kind: str) -> str | None:
        return {
            "archive": self.folders.archive,
            "unarchive": self.folders.inbox,
            "trash": self.folders.trash,
        }.get(kind)

    def _carried_forward(self, item: Item) -> Item:
        seen = set()
        while item.key in self.moved and item.key not in seen:
            seen.add(item.key)
            new = self.moved[item.key]
            item.key = str(new["key"])
            item.folder = str(new["folder"])
            item.uidvalidity = int(new["uidvalidity"])  # type: ignore[call-overload]
            item.uid = int(new["uid"])  # type: ignore[call-overload]
        return item

    # --- where is each message really? ----------------------------------------------------------
    def _confirm(self, items: list[Item]) -> None:
        """Check the snapshot locations: same UIDVALIDITY and the expected Message-ID at the UID."""
        by_folder: dict[str, list[Item]] = defaultdict(list)
        for item in items:
            if item.folder and item.uid is not None and item.uidvalidity is not None:
                by_folder[item.folder].append(item)
        for folder, group in by_folder.items():
            validity = self._select(folder, readonly=True)
            if validity is None:
                continue
            same = [i for i in group if i.uidvalidity == validity]
            at_uid = (
                fetch_message_ids(self.client, [i.uid for i in same if i.uid is not None]) if same else {}
            )
            for item in same:
                found = at_uid.get(item.uid)  # type: ignore[arg-type]
                # UIDVALIDITY + UID name one message for good; the Message-ID check guards
                # against a server that broke that promise (or a corrupted reference).
                if found is not None and (not item.message_id or found == item.message_id):
                    item.current = Location(folder, validity, item.uid)  # type: ignore[arg-type]

    def _locate(self, kind: str, items: list[Item]) -> None:
        """Find by Message-ID what is no longer where the snapshot says."""
        for item in items:
            if not item.message_id:
                item.settle("not_found", f"not at UID {item.uid} in {item.folder} and it has no Message-ID")
        searchable = [i for i in items if i.message_id]
        if not searchable:
            return
        hits = self._search([i.message_id for i in searchable], self._search_order(kind, searchable))
        inbox, archive, trash = self.folders.inbox, self.folders.archive, self.folders.trash
        for item in searchable:
            found = hits.get(item.message_id, {})
            if kind == "trash":
                sources = [f for f in found if f != trash]
                if item.folder in sources:  # the snapshot's folder first, then the others
                    sources = [item.folder]
            else:
                source = inbox if kind == "archive" else archive
                sources = [source] if source else []
            sources = [f for f in sources if found.get(f)]
            if sources:
                folder = sources[0]
                validity, uids = found[folder]
                if len(uids) > 1:
                    item.settle(
                        "ambiguous",
                        f"{len(uids)} messages in {folder} carry Message-ID {item.message_id}: not moved",
                    )
                else:
                    item.current = Location(folder, validity, uids[0])
                continue
            target = self._target(kind)
            if target and found.get(target):
                validity, uids = found[target]
                item.settle("already", f"already in {target}")
                if len(uids) == 1:
                    item.new = Location(target, validity, uids[0]).fields()
            else:
                item.settle("not_found", "not in the mailbox's folders any more: nothing to do")

    def _search_order(self, kind: str, items: list[Item]) -> list[str]:
        roles = {
            "archive": [self.folders.inbox, self.folders.archive],
            "unarchive": [self.folders.archive, self.folders.inbox],
            "trash": [i.folder for i in items]
            + [self.folders.inbox, self.folders.archive, self.folders.sent, self.folders.trash],
        }[kind]
        ordered: list[str] = []
        for folder in roles:
            if folder and folder not in ordered:
                ordered.append(folder)
        return ordered

    def _search(
        self, message_ids: list[str], folders: list[str]
    ) -> dict[str, dict[str, tuple[int, list[int]]]]:
        """Message-ID → folder → (UIDVALIDITY, UIDs) for each folder searched."""
        found: dict[str, dict[str, tuple[int, list[int]]]] = defaultdict(dict)
        for folder in folders:
            validity = self._select(folder, readonly=True)
            if validity is None:
                continue
            for mid, uids in find_by_message_ids(self.client, message_ids).items():
                if uids:
                    found[mid][folder] = (validity, uids)
        return found

    def _select(self, folder: str, *, readonly: bool) -> int | None:
        """SELECT/EXAMINE and return UIDVALIDITY; None when the folder cannot be opened."""
        try:
            return int(self.client.select_folder(folder, readonly=readonly)[b"UIDVALIDITY"])
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError) or is_temporary_refusal(exc):
                raise
            return None

    def _decide(self, kind: str, target: str, item: Item) -> str:
        """The folder to move the message out of, or "" with the reason it stays."""
        folder = item.current.folder if item.current else ""
        if folder == target:
            item.settle("already", f"already in {target}")
            return ""
        if kind == "archive" and folder != self.folders.inbox:
            item.settle("left", f"in {folder}, not in the Inbox: left there")
            return ""
        if kind == "unarchive" and folder != self.folders.archive:
            item.settle("left", f"in {folder}, not in the Archive: left there")
            return ""
        return folder

    # --- moving ---------------------------------------------------------------------------------
    def _move(self, source: str, target: str, items: list[Item]) -> None:
        try:
            finish_only = {} if self.can_move else self._copied_earlier(target, items)
            validity = self._select(source, readonly=False)
            if validity is None:
                raise IMAPClientError(f"{source} cannot be opened")
            if any(i.current is not None and i.current.uidvalidity != validity for i in items):
                raise ProviderTemporaryError(f"UIDVALIDITY of {source} changed during the push")
            by_uid: dict[int, list[Item]] = defaultdict(list)
            for item in items:
                by_uid[item.current.uid].append(item)  # type: ignore[union-attr]
            dest_validity, mapping = self._transfer(sorted(by_uid), target, finish_only)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError) or is_temporary_refusal(exc):
                raise
            for item in items:
                item.settle("failed", f"moving from {source} to {target} failed: {exc}")
            return
        for uid, group in by_uid.items():
            for item in group:
                note = f"moved from {source} to {target}"
                if not self.can_move and not self.can_uid_expunge:
                    note += " (the source copy stays flagged \\Deleted: the server cannot UID EXPUNGE)"
                item.settle("moved", note)
                if dest_validity is not None and uid in mapping:
                    item.new = Location(target, dest_validity, mapping[uid]).fields()
        unplaced = [i for group in by_uid.values() for i in group if i.new is None and i.message_id]
        if unplaced:  # no COPYUID (no UIDPLUS): find where they landed
            hits = self._search([i.message_id for i in unplaced], [target])
            for item in unplaced:
                validity_uids = hits.get(item.message_id, {}).get(target)
                if validity_uids and len(validity_uids[1]) == 1:
                    item.new = Location(target, validity_uids[0], validity_uids[1][0]).fields()

    def _transfer(
        self, uids: list[int], target: str, finish_only: dict[int, tuple[int, int]]
    ) -> tuple[int | None, dict[int, int]]:
        dest_validity: int | None = None
        mapping: dict[int, int] = {}
        for batch in chunks(uids, MOVE_BATCH):
            clear_untagged(self.client, "COPYUID")
            if self.can_move:
                self.client.move(uid_ranges(batch), target)
                validity, moved = copyuid_map(self.client)
            else:
                to_copy = [u for u in batch if u not in finish_only]
                validity, moved = None, {}
                if to_copy:
                    self.client.copy(uid_ranges(to_copy), target)
                    validity, moved = copyuid_map(self.client)
                for uid in batch:
                    if uid in finish_only:
                        validity = validity or finish_only[uid][0]
                        moved[uid] = finish_only[uid][1]
                self.client.add_flags(uid_ranges(batch), [DELETED], silent=True)
                if self.can_uid_expunge:
                    self.client.uid_expunge(uid_ranges(batch))
            dest_validity = validity or dest_validity
            mapping.update(moved)
        return dest_validity, mapping

    def _copied_earlier(self, target: str, items: list[Item]) -> dict[int, tuple[int, int]]:
        """COPY-based moves: messages an interrupted earlier attempt already copied.

        A retry then only removes the source copy instead of copying a second time.
        """
        wanted = [i for i in items if i.message_id and i.current is not None]
        if not wanted:
            return {}
        hits = self._search([i.message_id for i in wanted], [target])
        done: dict[int, tuple[int, int]] = {}
        for item in wanted:
            found = hits.get(item.message_id, {}).get(target)
            if found and len(found[1]) == 1:
                done[item.current.uid] = (found[0], found[1][0])  # type: ignore[union-attr]
        return done

    # --- the result of one change -----------------------------------------------------------------
    def _result(self, target: str, request: PushRequest, items: list[Item]) -> PushResult:
        counts: dict[str, int] = defaultdict(int)
        notes: dict[str, list[str]] = defaultdict(list)
        relocated: dict[str, dict[str, object]] = {}
        for item in items:
            status = item.status or "not_found"
            counts[status] += 1
            if status != "moved" and len(notes[status]) < DETAIL_LIMIT:
                notes[status].append(f"{item.label()}: {item.note}")
            if item.new is not None and item.new["key"] != item.key:
                relocated[item.key] = item.new
        details: dict[str, object] = {"target": target, **dict(sorted(counts.items()))}
        for status, lines in notes.items():
            details[f"{status}_notes"] = lines
        problems = [i for i in items if i.status in ("ambiguous", "failed")]
        if problems:
            error = f"{len(problems)} of {len(items)} messages were not moved to {target}: {problems[0].note}"
            return PushResult(
                request.change_id, Outcome.FAILED, error=error, details=details, relocated=relocated
            )
        return PushResult(request.change_id, Outcome.DONE, details=details, relocated=relocated)


def _runs(requests: Sequence[PushRequest]) -> Iterator[tuple[str, list[PushRequest]]]:
    """Consecutive changes of one kind, in order: an archive and the unarchive after it never swap."""
    group: list[PushRequest] = []
    for request in requests:
        if group and request.kind != group[0].kind:
            yield group[0].kind, group
            group = []
        group.append(request)
    if group:
        yield group[0].kind, group
