"""App → IMAP: archive, unarchive and trash as UID MOVEs, with the safety checks of
ARCHITECTURE.md.

* archive   = INBOX → Archive   (messages elsewhere — Sent, other folders — stay put)
* unarchive = Archive → INBOX
* trash     = every copy, from any folder → Trash (never a permanent delete)

Consecutive changes of one kind are batched: one UID set per source folder. Before moving,
each message is checked: same UIDVALIDITY, and the UID still carries the expected
Message-ID; otherwise it is looked up by Message-ID in the source folder (and, to
recognise work already done, in the target). Zero or several matches: nothing is done to
that message and the reason is recorded on the change. Without MOVE the fallback is COPY,
STORE \\Deleted and UID EXPUNGE of exactly those UIDs — never a plain EXPUNGE, which would
also purge whatever else the user had flagged \\Deleted.

Every change is idempotent: a message already where it should be counts as done, and the
new location (from COPYUID) is reported so the app's references follow the message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from imapclient import DELETED, IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from sync.errors import ProviderTemporaryError
from sync.providers.base import Outcome, PushRequest, PushResult
from sync.providers.imap_client import (
    chunks,
    clear_untagged,
    copyuid_map,
    fetch_message_ids,
    find_by_message_ids,
    has,
    is_temporary_refusal,
    ref_key,
    uid_ranges,
)
from sync.providers.imap_folders import FolderMap

DETAIL_LIMIT = 20  # per-message notes listed on a change
MOVE_BATCH = 1000  # UIDs per MOVE/COPY command (as ranges, well under line limits)


@dataclass
class Item:
    """One message reference of one change, and what became of it."""

    change_id: int
    key: str
    folder: str
    uidvalidity: int | None
    uid: int | None
    message_id: str
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


@dataclass
class Batch:
    source: str
    target: str
    items: list[Item] = field(default_factory=list)


class ImapPush:
    def __init__(self, client: IMAPClient, folders: FolderMap) -> None:
        self.client = client
        self.folders = folders
        self.can_move = has(client, "MOVE")
        self.can_uid_expunge = has(client, "UIDPLUS")

    def run(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        results: list[PushResult] = []
        for kind, group in _runs(requests):
            results += self._apply(kind, group)
        return results

    # --- one run of same-kind changes -------------------------------------------------------
    def _apply(self, kind: str, requests: list[PushRequest]) -> list[PushResult]:
        target = {
            "archive": self.folders.archive,
            "unarchive": self.folders.inbox,
            "trash": self.folders.trash,
        }.get(kind, "")
        if not target:
            reason = (
                f"IMAP cannot apply a {kind!r} change"
                if kind not in ("archive", "unarchive", "trash")
                else f"this mailbox has no {'Trash' if kind == 'trash' else 'Archive'} folder"
            )
            return [PushResult(r.change_id, Outcome.FAILED, error=reason) for r in requests]
        items_by_change: dict[int, list[Item]] = {}
        batches: dict[str, Batch] = {}
        for request in requests:
            items = []
            seen: set[str] = set()
            for ref in request.refs:
                item = Item.from_ref(request.change_id, ref)
                if item.key in seen:
                    continue
                seen.add(item.key)
                items.append(item)
                source = self._source_for(kind, item, target)
                if source:
                    batches.setdefault(source, Batch(source, target)).items.append(item)
            items_by_change[request.change_id] = items
        for batch in batches.values():
            self._move_batch(batch)
        return [
            self._result(kind, target, request, items_by_change[request.change_id]) for request in requests
        ]

    def _source_for(self, kind: str, item: Item, target: str) -> str:
        """The folder to move this message out of, or "" (and a status) when it stays."""
        if item.folder == target:
            item.status, item.note = "already", f"already in {target}"
            return ""
        if kind == "archive" and item.folder != self.folders.inbox:
            item.status, item.note = "left", f"in {item.folder or '?'}, not in the Inbox: left there"
            return ""
        if kind == "unarchive" and item.folder != self.folders.archive:
            item.status, item.note = "left", f"in {item.folder or '?'}, not in the Archive: left there"
            return ""
        if not item.folder:
            item.status, item.note = "not_found", "no IMAP folder recorded for this message"
            return ""
        return item.folder

    # --- one source folder --------------------------------------------------------------------
    def _move_batch(self, batch: Batch) -> None:
        """Check every message of the batch, then move the confirmed ones with one UID set."""
        try:
            already_in_target = {} if self.can_move else self._in_target(batch)
            selected = self.client.select_folder(batch.source)
        except IMAPClientError as exc:
            self._fail_on(exc, batch.items, f"could not open {batch.source}")
            return
        uidvalidity = int(selected[b"UIDVALIDITY"])
        confirmed: dict[int, list[Item]] = defaultdict(list)
        to_locate: list[Item] = []
        same_uids = [i.uid for i in batch.items if i.uidvalidity == uidvalidity and i.uid is not None]
        at_uid = fetch_message_ids(self.client, same_uids) if same_uids else {}
        for item in batch.items:
            current = (
                at_uid.get(item.uid) if item.uidvalidity == uidvalidity and item.uid is not None else None
            )
            # UIDVALIDITY + UID name one message for good; the Message-ID check guards
            # against a server that broke that promise.
            if current is not None and (not item.message_id or current == item.message_id):
                confirmed[item.uid].append(item)  # type: ignore[index]
            else:
                to_locate.append(item)
        if to_locate:
            self._locate(batch, uidvalidity, to_locate, confirmed)
        if not confirmed:
            return
        finish_only = {
            uid: already_in_target[items[0].message_id]
            for uid, items in confirmed.items()
            if items[0].message_id in already_in_target
        }
        try:
            self._move(batch, uidvalidity, confirmed, finish_only)
        except IMAPClientError as exc:
            self._fail_on(
                exc, [i for items in confirmed.values() for i in items], f"moving to {batch.target} failed"
            )

    def _locate(
        self, batch: Batch, uidvalidity: int, items: list[Item], confirmed: dict[int, list[Item]]
    ) -> None:
        """Find moved-on or re-numbered messages by Message-ID: in the source, then the target."""
        searchable = [i for i in items if i.message_id]
        for item in items:
            if not item.message_id:
                item.status, item.note = (
                    "not_found",
                    f"no longer at UID {item.uid} in {batch.source} (no Message-ID to look for)",
                )
        in_source = find_by_message_ids(self.client, [i.message_id for i in searchable]) if searchable else {}
        missing: list[Item] = []
        for item in searchable:
            uids = in_source.get(item.message_id, [])
            if len(uids) == 1:
                confirmed[uids[0]].append(item)
            elif len(uids) > 1:
                item.status = "ambiguous"
                item.note = (
                    f"{len(uids)} messages in {batch.source} carry Message-ID {item.message_id}: not moved"
                )
            else:
                missing.append(item)
        if not missing:
            return
        in_target, target_validity = self._search_folder(batch.target, [i.message_id for i in missing])
        for item in missing:
            uids = in_target.get(item.message_id, [])
            if uids:
                # Done earlier (a retried change, or the user did it): already there.
                item.status, item.note = "already", f"already in {batch.target}"
                if len(uids) == 1 and target_validity is not None:
                    item.new = _location(batch.target, target_validity, uids[0])
            else:
                item.status = "not_found"
                item.note = f"not in {batch.source} or {batch.target} any more: nothing to do"
        # Back to the source folder for the move that follows.
        selected = self.client.select_folder(batch.source)
        if int(selected[b"UIDVALIDITY"]) != uidvalidity:
            raise ProviderTemporaryError(f"UIDVALIDITY of {batch.source} changed during the push")

    def _search_folder(self, folder: str, message_ids: list[str]) -> tuple[dict[str, list[int]], int | None]:
        try:
            selected = self.client.select_folder(folder, readonly=True)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError) or is_temporary_refusal(exc):
                raise
            return {}, None
        return find_by_message_ids(self.client, message_ids), int(selected[b"UIDVALIDITY"])

    def _in_target(self, batch: Batch) -> dict[str, tuple[int, int]]:
        """For COPY-based moves: messages a failed earlier attempt already copied.

        A retry then only removes the source copy instead of copying a second time.
        """
        mids = [i.message_id for i in batch.items if i.message_id]
        if not mids:
            return {}
        found, validity = self._search_folder(batch.target, mids)
        if validity is None:
            return {}
        return {mid: (validity, uids[0]) for mid, uids in found.items() if len(uids) == 1}

    def _move(
        self,
        batch: Batch,
        uidvalidity: int,
        confirmed: dict[int, list[Item]],
        finish_only: dict[int, tuple[int, int]],
    ) -> None:
        all_uids = sorted(confirmed)
        dest_validity: int | None = None
        mapping: dict[int, int] = {}
        for uids in chunks(all_uids, MOVE_BATCH):
            clear_untagged(self.client, "COPYUID")
            if self.can_move:
                self.client.move(uid_ranges(uids), batch.target)
                validity, moved = copyuid_map(self.client)
            else:
                to_copy = [u for u in uids if u not in finish_only]
                validity, moved = None, {}
                if to_copy:
                    self.client.copy(uid_ranges(to_copy), batch.target)
                    validity, moved = copyuid_map(self.client)
                for uid in uids:
                    if uid in finish_only:
                        validity = validity or finish_only[uid][0]
                        moved[uid] = finish_only[uid][1]
                self.client.add_flags(uid_ranges(uids), [DELETED], silent=True)
                if self.can_uid_expunge:
                    self.client.uid_expunge(uid_ranges(uids))
            dest_validity = validity or dest_validity
            mapping.update(moved)
        uids = all_uids
        for uid, items in confirmed.items():
            for item in items:
                item.status = "moved"
                item.note = f"moved from {batch.source} to {batch.target}"
                if not self.can_move and not self.can_uid_expunge:
                    item.note += (
                        " (the source copy is flagged \\Deleted; the server lacks UIDPLUS to expunge it)"
                    )
                if dest_validity is not None and uid in mapping:
                    item.new = _location(batch.target, dest_validity, mapping[uid])
        if dest_validity is None or len(mapping) < len(uids):
            self._find_new_locations(
                batch, [i for items in confirmed.values() for i in items if i.new is None]
            )

    def _find_new_locations(self, batch: Batch, items: list[Item]) -> None:
        """No COPYUID (no UIDPLUS): find where the moved messages landed by Message-ID."""
        wanted = [i for i in items if i.message_id]
        if not wanted:
            return
        found, validity = self._search_folder(batch.target, [i.message_id for i in wanted])
        for item in wanted:
            uids = found.get(item.message_id, [])
            if validity is not None and len(uids) == 1:
                item.new = _location(batch.target, validity, uids[0])

    def _fail_on(self, exc: IMAPClientError, items: list[Item], doing: str) -> None:
        if isinstance(exc, IMAPClientAbortError) or is_temporary_refusal(exc):
            raise exc  # the adapter turns it into ProviderTemporaryError for the whole batch
        for item in items:
            item.status, item.note = "failed", f"{doing}: {exc}"

    # --- the result of one change --------------------------------------------------------------
    def _result(self, kind: str, target: str, request: PushRequest, items: list[Item]) -> PushResult:
        counts: dict[str, int] = defaultdict(int)
        notes: dict[str, list[str]] = defaultdict(list)
        relocated: dict[str, dict[str, object]] = {}
        for item in items:
            counts[item.status or "not_found"] += 1
            if item.status not in ("moved",) and len(notes[item.status]) < DETAIL_LIMIT:
                notes[item.status].append(f"{item.label()}: {item.note}")
            if item.new is not None and item.new["key"] != item.key:
                relocated[item.key] = item.new
        details: dict[str, object] = {"target": target, **{k: v for k, v in sorted(counts.items())}}
        for status, lines in notes.items():
            details[f"{status}_notes"] = lines
        problems = counts.get("ambiguous", 0) + counts.get("failed", 0)
        if problems:
            first = next(i.note for i in items if i.status in ("ambiguous", "failed"))
            error = f"{problems} of {len(items)} messages were not moved to {target}: {first}"
            return PushResult(
                request.change_id, Outcome.FAILED, error=error, details=details, relocated=relocated
            )
        return PushResult(request.change_id, Outcome.DONE, details=details, relocated=relocated)


def _location(folder: str, uidvalidity: int, uid: int) -> dict[str, object]:
    return {
        "key": ref_key(folder, uidvalidity, uid),
        "folder": folder,
        "uidvalidity": uidvalidity,
        "uid": uid,
    }


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
