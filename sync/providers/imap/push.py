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

Consecutive changes of one kind are batched: one UID set per source folder. A refused
command fails only the change it belongs to: a batch the server refuses is tried again
change by change.

Proof before destruction. A search that locates messages is always ``UNDELETED``: a copy
flagged \\Deleted is on its way out (any client's EXPUNGE removes it) and is never counted
as "already there". With MOVE the server moves atomically. Without it the fallback is COPY,
then proof that a live copy exists in the target — COPYUID, or an UNDELETED search that
finds exactly one copy with the original's Message-ID and size at a UID at or above the
target's UIDNEXT read right before the COPY — and only then STORE \\Deleted on the proven
originals. With UIDPLUS they are then removed by UID EXPUNGE of exactly those UIDs; without
it they stay flagged \\Deleted (never a plain EXPUNGE, which would also purge whatever else
the user had flagged), which is safe because the live copy is proven: after each step every
message has exactly one live copy. A retry after a half-done COPY finds that copy (one live
copy, same Message-ID and size) and only flags the original. New locations are reported so
the app's references follow the messages, and carried forward to later changes of the
same push.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from imapclient import DELETED, SEEN, IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from sync.errors import ProviderTemporaryError
from sync.providers.base import Outcome, PushRequest, PushResult
from sync.providers.imap.client import (
    LiveMessage,
    chunks,
    clear_untagged,
    copyuid_map,
    fetch_live_messages,
    folder_uid_state,
    has,
    read_around_refusals,
    ref_key,
    search_message_ids,
    uid_ranges,
)
from sync.providers.imap.errors import is_temporary_refusal
from sync.providers.imap.folders import FolderMap

DETAIL_LIMIT = 20  # per-message notes listed on a change
MOVE_BATCH = 1000  # UIDs per MOVE/COPY command (sent as ranges, well under line limits)
KINDS = ("archive", "unarchive", "trash")  # read / unread: ``_read_state``


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
    proven: bool = False  # located by the CONDSTORE proof (no Message-ID fetch was needed)
    followed: bool = False  # its new location went to ImapPush.follow (not repeated in the result)

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


@dataclass(frozen=True)
class FolderProof:
    """A folder as the last pull left it: UIDVALIDITY, UIDNEXT, EXISTS and HIGHESTMODSEQ.

    When the server reports the same four values, nothing was added (UIDNEXT), nothing
    removed (EXISTS, with nothing added) and no flag changed (HIGHESTMODSEQ, CONDSTORE) since
    that pull read the folder: every reference the pull left there still names the message
    it named then — live, with that Message-ID — and the per-UID header fetch can go.
    """

    uidvalidity: int
    uidnext: int
    exists: int
    highestmodseq: int

    def holds(self, selected: dict[bytes, object]) -> bool:
        def number(key: bytes) -> int | None:
            value = selected.get(key)
            return int(value) if value is not None else None  # type: ignore[call-overload]

        return (
            number(b"UIDVALIDITY") == self.uidvalidity
            and number(b"UIDNEXT") == self.uidnext
            and number(b"EXISTS") == self.exists
            and number(b"HIGHESTMODSEQ") == self.highestmodseq
        )


class ImapPush:
    def __init__(
        self,
        client: IMAPClient,
        folders: FolderMap,
        *,
        proofs: dict[str, FolderProof] | None = None,
        trusted_keys: set[str] | frozenset[str] = frozenset(),
        reconnect: Callable[[], IMAPClient] | None = None,
        follow: Callable[[dict[str, dict[str, object]]], None] | None = None,
    ) -> None:
        self.client = client
        # Where new locations go as soon as the server gave them (old key -> new ref fields),
        # in the order they were learnt, so the app's references follow the messages while
        # the next batch moves; without it they are in the results.
        self.follow = follow
        # A new logged-in connection after the server hung up on reading one message (Dovecot
        # sends BYE for a message file it cannot open); raises when no more may be tried.
        self.reconnect = reconnect
        self.folders = folders
        # CONDSTORE: HIGHESTMODSEQ in every SELECT answer, which FolderProof compares.
        self.condstore = bool(proofs) and has(client, "CONDSTORE") and has(client, "ENABLE")
        if self.condstore:
            client.enable("CONDSTORE")
        # All Mail (Gmail-style servers) is a view over other folders: its counters are not
        # taken as proof of anything.
        self.proofs = {f: p for f, p in (proofs or {}).items() if f != folders.all_mail}
        self.last_select: dict[bytes, object] = {}
        self.last_folder: str | None = None  # the folder of last_select, and how it was opened
        self.last_readonly = True
        # Snapshot references exactly as the database has them, none that the last pull saw
        # leave its folder (folder_proofs): the only ones a FolderProof vouches for.
        self.trusted_keys = trusted_keys
        self.can_move = has(client, "MOVE")
        self.can_uid_expunge = has(client, "UIDPLUS")
        # Gmail-style servers have no Archive folder but All Mail (\\All), a view of every
        # label: archiving there means leaving INBOX while staying in All Mail, which a MOVE
        # INBOX → All Mail does (Gmail: the Inbox label goes; the suite's Dovecot: the message
        # goes to a hidden real folder All Mail shows).
        self.archive_folder = folders.archive or folders.all_mail
        self.archive_is_all_mail = self.archive_folder is not None and self.archive_folder == folders.all_mail
        # Real Gmail (X-GM-EXT-1): a folder is a label, so unarchive = COPY All Mail → INBOX
        # (adds the label). Nothing is ever removed from All Mail: there, that is a delete.
        self.gmail_labels = has(client, "X-GM-EXT-1")
        # old key → new location, for the later changes of this push (their snapshots
        # were taken before the earlier ones moved anything).
        self.moved: dict[str, dict[str, object]] = {}

    def run(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        results: list[PushResult] = []
        for kind, group in _runs(requests):
            if kind in ("read", "unread"):
                results += self._read_state(kind, group)
            else:
                results += self._apply(kind, group)
        return results

    # --- read state: \\Seen on the copies we know of ----------------------------------------------
    def _read_state(self, kind: str, requests: list[PushRequest]) -> list[PushResult]:
        """``UID STORE +FLAGS (\\Seen)`` (or ``-FLAGS``) on each message where it is confirmed
        (same UIDVALIDITY, same Message-ID at the UID); one that is not there any more needs
        nothing. Setting a flag twice is harmless, so a retry simply does it again."""
        items_by_change = {
            r.change_id: [self._carried_forward(Item.from_ref(r.change_id, ref)) for ref in r.refs]
            for r in requests
        }
        every = [item for items in items_by_change.values() for item in items]
        self._confirm(every)
        by_folder: dict[str, list[int]] = defaultdict(list)
        for item in every:
            if item.current is not None:
                by_folder[item.current.folder].append(item.current.uid)
        for folder, uids in by_folder.items():
            self.client.select_folder(folder)
            for chunk in chunks(sorted(set(uids)), MOVE_BATCH):
                if kind == "read":
                    self.client.add_flags(chunk, [SEEN])
                else:
                    self.client.remove_flags(chunk, [SEEN])
        results = []
        for request in requests:
            items = items_by_change[request.change_id]
            found = [i for i in items if i.current is not None]
            details: dict[str, object] = {f"marked {kind}": len(found)}
            if len(found) < len(items):
                details["no longer where we knew them"] = len(items) - len(found)
            results.append(
                PushResult(request.change_id, Outcome.DONE, details=details, done_keys=[i.key for i in items])
            )
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
        if kind == "unarchive" and self.archive_is_all_mail:
            self._outside_all_mail([i for i in every if not i.status and i.current is not None])
        by_source: dict[str, list[Item]] = defaultdict(list)
        for item in every:
            if item.current is not None and not item.status:
                source = self._decide(kind, target, item)
                if source:
                    by_source[source].append(item)
        self._follow(every)  # found elsewhere already: before anything moves, in order
        for source, items in by_source.items():
            self._move(source, target, items)
        self._follow(every)
        for item in every:
            if item.new is not None:
                self.moved[item.key] = item.new
        return [self._result(target, r, items_by_change[r.change_id]) for r in requests]

    def _target(self, kind: str) -> str | None:
        return {
            "archive": self.archive_folder,
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
        """Check the snapshot locations: same UIDVALIDITY, a live (not ``\\Deleted``) message
        at the UID, and the expected Message-ID there."""
        by_folder: dict[str, list[Item]] = defaultdict(list)
        for item in items:
            if item.folder and item.uid is not None and item.uidvalidity is not None:
                by_folder[item.folder].append(item)
        for folder, group in by_folder.items():
            selected = self._select_answer(folder, readonly=True)
            if selected is None:
                continue
            validity = int(selected[b"UIDVALIDITY"])  # type: ignore[call-overload]
            same = [i for i in group if i.uidvalidity == validity]
            proof = self.proofs.get(folder) if self.condstore else None
            if proof is not None and proof.holds(selected):
                for item in same:
                    if item.key in self.trusted_keys:
                        item.current = Location(folder, validity, item.uid)  # type: ignore[arg-type]
                        item.proven = True
                same = [i for i in same if not i.proven]
                if not same:
                    continue
            at_uid, refused = self._read_live([i.uid for i in same if i.uid is not None])
            for item in same:
                if item.uid in refused:
                    # UIDVALIDITY + UID name this message for good: it is there, but the server
                    # will not return it. Only its own change fails; the others go on.
                    item.settle("failed", self._unreadable(folder, item.uid, refused))  # type: ignore[arg-type]
                    continue
                found = at_uid.get(item.uid)  # type: ignore[arg-type]
                # UIDVALIDITY + UID name one message for good; the Message-ID check guards
                # against a server that broke that promise (or a corrupted reference).
                if found is not None and (not item.message_id or found.message_id == item.message_id):
                    item.current = Location(folder, validity, item.uid)  # type: ignore[arg-type]

    def _locate(self, kind: str, items: list[Item]) -> None:
        """Find by Message-ID what is no longer where the snapshot says."""
        for item in items:
            if not item.message_id:
                item.settle("not_found", f"not at UID {item.uid} in {item.folder} and it has no Message-ID")
        searchable = [i for i in items if i.message_id]
        if not searchable:
            return
        hits, refused = self._search([i.message_id for i in searchable], self._search_order(kind, searchable))
        inbox, archive, trash = self.folders.inbox, self.archive_folder, self.folders.trash
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
            elif item.message_id in refused:
                # Not found where the server would search; where it would not, it may be.
                item.settle("failed", f"could not be located: {refused[item.message_id]}")
            else:
                item.settle("not_found", "not in the mailbox's folders any more: nothing to do")

    def _search_order(self, kind: str, items: list[Item]) -> list[str]:
        roles = {
            "archive": [self.folders.inbox, self.archive_folder],
            "unarchive": [self.archive_folder, self.folders.inbox],
            "trash": [i.folder for i in items]
            + [self.folders.inbox, self.archive_folder, self.folders.sent, self.folders.trash],
        }[kind]
        ordered: list[str] = []
        for folder in roles:
            if folder and folder not in ordered:
                ordered.append(folder)
        return ordered

    def _search(
        self, message_ids: list[str], folders: list[str]
    ) -> tuple[dict[str, dict[str, tuple[int, list[int]]]], dict[str, str]]:
        """Message-ID → folder → (UIDVALIDITY, live UIDs) for each folder searched, and the
        Message-IDs some folder would not search for (with why): those are not "absent"."""
        found: dict[str, dict[str, tuple[int, list[int]]]] = defaultdict(dict)
        refused: dict[str, str] = {}
        for folder in folders:
            validity = self._select(folder, readonly=True)
            if validity is None:
                for mid in message_ids:
                    refused.setdefault(mid, f"{folder} could not be opened")
                continue
            search = search_message_ids(self.client, message_ids)
            for mid, uids in search.found.items():
                if uids:
                    found[mid][folder] = (validity, uids)
            for mid, why in search.refused.items():
                refused.setdefault(mid, f"searching {folder}: {why}")
        return found, refused

    def _read_live(self, uids: Sequence[int]) -> tuple[dict[int, LiveMessage], dict[int, str]]:
        """``fetch_live_messages`` in the selected folder where a message the server will not
        return (``NO``, even with ``[SERVERBUG]``, or a hang-up) costs only that message:
        {uid: reason} apart. Everything refused with a "not now" code is the server, not the
        messages, and is raised (push later)."""
        selected = dict(self.last_select)
        readonly = self.last_readonly

        def after_hangup() -> None:
            folder = self.last_folder
            if self.reconnect is None or folder is None:
                raise ProviderTemporaryError("The IMAP server closed the connection")
            self.client = self.reconnect()
            if self.condstore:
                self.client.enable("CONDSTORE")
            again = self._select_answer(folder, readonly=readonly)
            if again is None or again.get(b"UIDVALIDITY") != selected.get(b"UIDVALIDITY"):
                raise ProviderTemporaryError(f"{folder} changed while the server was reconnected to")

        return read_around_refusals(
            lambda part: fetch_live_messages(self.client, part), uids, after_hangup=after_hangup
        )

    @staticmethod
    def _unreadable(folder: str, uid: int, refused: dict[int, str]) -> str:
        return f"the server would not return the message at UID {uid} in {folder}: {refused[uid]}"

    def _select(self, folder: str, *, readonly: bool) -> int | None:
        """SELECT/EXAMINE and return UIDVALIDITY; None when the folder cannot be opened."""
        selected = self._select_answer(folder, readonly=readonly)
        return int(selected[b"UIDVALIDITY"]) if selected is not None else None  # type: ignore[call-overload]

    def _select_answer(self, folder: str, *, readonly: bool) -> dict[bytes, object] | None:
        try:
            self.last_select = dict(self.client.select_folder(folder, readonly=readonly))
            self.last_folder, self.last_readonly = folder, readonly
            return self.last_select
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError) or is_temporary_refusal(exc):
                raise
            return None

    def _outside_all_mail(self, items: list[Item]) -> None:
        """Unarchive on a Gmail-style server: All Mail also shows what is in INBOX and Sent.

        A message seen in All Mail that is live in INBOX is already unarchived; one live in
        Sent stays there (the rep's own reply). Only what is in All Mail alone is archived
        and moves back. Without a Message-ID that cannot be told, so it is left alone.
        """
        in_all_mail = [i for i in items if i.current is not None and i.current.folder == self.archive_folder]
        for item in in_all_mail:
            if not item.message_id:
                item.settle("left", "in All Mail without a Message-ID: cannot tell whether it left the Inbox")
        searchable = [i for i in in_all_mail if i.message_id and not i.status]
        folders = [f for f in (self.folders.inbox, self.folders.sent) if f]
        if not searchable or not folders:
            return
        hits, refused = self._search([i.message_id for i in searchable], folders)
        for item in searchable:
            found = hits.get(item.message_id, {})
            if found.get(self.folders.inbox):
                validity, uids = found[self.folders.inbox]
                item.settle("already", f"already in {self.folders.inbox}")
                if len(uids) == 1:
                    item.new = Location(self.folders.inbox, validity, uids[0]).fields()
            elif self.folders.sent and found.get(self.folders.sent):
                item.settle("left", f"in {self.folders.sent}, not archived: left there")
            elif item.message_id in refused:
                item.settle("failed", f"could not be located: {refused[item.message_id]}")

    def _decide(self, kind: str, target: str, item: Item) -> str:
        """The folder to move the message out of, or "" with the reason it stays."""
        folder = item.current.folder if item.current else ""
        if folder == target:
            item.settle("already", f"already in {target}")
            return ""
        if kind == "archive" and folder != self.folders.inbox:
            item.settle("left", f"in {folder}, not in the Inbox: left there")
            return ""
        if kind == "unarchive" and folder != self.archive_folder:
            item.settle("left", f"in {folder}, not in the Archive: left there")
            return ""
        return folder

    # --- moving ---------------------------------------------------------------------------------
    def _move(self, source: str, target: str, items: list[Item]) -> None:
        """Move one source folder's messages; a refusal fails only the change it belongs to."""
        try:
            self._move_checked(source, target, items)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError) or is_temporary_refusal(exc):
                raise
            pending = [i for i in items if not i.status]
            changes = sorted({i.change_id for i in pending})
            if len(changes) > 1:
                # Several changes shared the refused command: try each on its own, so one
                # change's refusal does not fail the others claimed with it. What was done
                # already is settled; a half-done COPY is found again by _copied_earlier.
                for change_id in changes:
                    self._move(source, target, [i for i in pending if i.change_id == change_id])
                return
            for item in pending:
                item.settle("failed", f"moving from {source} to {target} failed: {exc}")

    def _move_checked(self, source: str, target: str, items: list[Item]) -> None:
        items = [i for i in items if not i.status]
        if not items:
            return
        validity = self._select(source, readonly=False)
        if validity is None:
            raise IMAPClientError(f"{source} cannot be opened")
        if any(i.current is not None and i.current.uidvalidity != validity for i in items):
            raise ProviderTemporaryError(f"UIDVALIDITY of {source} changed during the push")
        by_uid: dict[int, list[Item]] = defaultdict(list)
        for item in items:
            by_uid[item.current.uid].append(item)  # type: ignore[union-attr]
        # Still there and live right now? Another client may have flagged or expunged it
        # since we looked — and COPY would carry a \Deleted flag over to the copy.
        proof = self.proofs.get(source) if self.condstore else None
        if self.can_move and proof is not None and proof.holds(self.last_select):
            # Unchanged since the pull (FolderProof): the proven UIDs are live as they were;
            # only the ones found by a search are fetched again.
            proven = {uid for uid, group in by_uid.items() if all(i.proven for i in group)}
            live, refused = self._read_live(sorted(set(by_uid) - proven))
            live.update({uid: LiveMessage(by_uid[uid][0].message_id, 0) for uid in proven})
        else:
            live, refused = self._read_live(sorted(by_uid))
        for uid in [u for u in by_uid if u in refused]:
            for item in by_uid.pop(uid):
                item.settle("failed", self._unreadable(source, uid, refused))
        for uid in [u for u in by_uid if u not in live]:
            for item in by_uid.pop(uid):
                item.settle(
                    "not_found", f"no longer live in {source} (expunged or flagged \\Deleted elsewhere)"
                )
        if not by_uid:
            return
        if source == self.folders.all_mail and self.gmail_labels:
            self._add_label(source, target, by_uid)
            return
        if self.can_move:
            self._move_uids(source, target, by_uid)
            return
        # All Mail is a view that shows the original itself: a "copy" seen there proves nothing.
        earlier = {} if target == self.folders.all_mail else self._copied_earlier(target, by_uid, live)
        if self._select(source, readonly=False) != validity:
            raise ProviderTemporaryError(f"UIDVALIDITY of {source} changed during the push")
        for batch in chunks(sorted(by_uid), MOVE_BATCH):
            self._copy_then_flag(source, validity, target, {u: by_uid[u] for u in batch}, live, earlier)
            self._follow(item for uid in batch for item in by_uid[uid])

    def _move_uids(self, source: str, target: str, by_uid: dict[int, list[Item]]) -> None:
        """UID MOVE: atomic at the server, so there is never a moment with two or no copies."""
        for batch in chunks(sorted(by_uid), MOVE_BATCH):
            clear_untagged(self.client, "COPYUID")
            self.client.move(uid_ranges(batch), target)
            dest_validity, mapping = copyuid_map(self.client)
            for uid in batch:
                place = (
                    Location(target, dest_validity, mapping[uid])
                    if dest_validity and uid in mapping
                    else None
                )
                self._moved(by_uid[uid], source, target, place, flagged_only=False)
            self._follow(item for uid in batch for item in by_uid[uid])
        unplaced = [i for group in by_uid.values() for i in group if i.new is None and i.message_id]
        if unplaced:  # no COPYUID (no UIDPLUS): find where they landed
            hits, _refused = self._search([i.message_id for i in unplaced], [target])
            for item in unplaced:
                validity_uids = hits.get(item.message_id, {}).get(target)
                if validity_uids and len(validity_uids[1]) == 1:
                    item.new = Location(target, validity_uids[0], validity_uids[1][0]).fields()

    def _add_label(self, source: str, target: str, by_uid: dict[int, list[Item]]) -> None:
        """Gmail: COPY from All Mail into INBOX adds the Inbox label to the same message.
        Nothing is flagged or expunged in All Mail — on Gmail that would delete the message."""
        for batch in chunks(sorted(by_uid), MOVE_BATCH):
            clear_untagged(self.client, "COPYUID")
            self.client.copy(uid_ranges(batch), target)
            dest_validity, mapping = copyuid_map(self.client)
            for uid in batch:
                place = (
                    Location(target, dest_validity, mapping[uid])
                    if dest_validity and uid in mapping
                    else None
                )
                for item in by_uid[uid]:
                    item.settle("moved", f"added to {target} (Gmail label); it stays in {source}")
                    if place is not None:
                        item.new = place.fields()
            self._follow(item for uid in batch for item in by_uid[uid])

    def _copy_then_flag(
        self,
        source: str,
        validity: int,
        target: str,
        by_uid: dict[int, list[Item]],
        live: dict[int, LiveMessage],
        earlier: dict[int, Location | str],
    ) -> None:
        """Without MOVE: COPY, prove each copy, and only then flag the proven originals.

        Proof is COPYUID (UIDPLUS), or else an UNDELETED search of the target that finds
        exactly one copy with the Message-ID and size of the original at a UID at or above
        the UIDNEXT read right before the COPY — i.e. the copy this COPY made. An original
        whose copy is not proven stays untouched (and the change says so).
        """
        proven: dict[int, Location] = {}
        refused: dict[int, str] = {}
        for uid, found in earlier.items():
            if uid not in by_uid:
                continue
            if isinstance(found, Location):
                proven[uid] = found
            else:
                refused[uid] = found
        to_copy = [u for u in sorted(by_uid) if u not in proven and u not in refused]
        if to_copy:
            dest_validity, uidnext = folder_uid_state(self.client, target)
            clear_untagged(self.client, "COPYUID")
            self.client.copy(uid_ranges(to_copy), target)
            copy_validity, mapping = copyuid_map(self.client)
            for uid in to_copy:
                if copy_validity and uid in mapping:
                    proven[uid] = Location(target, copy_validity, mapping[uid])
            unproven = [u for u in to_copy if u not in proven]
            if unproven:
                proven.update(self._find_new_copies(target, dest_validity, uidnext, unproven, live))
                if self._select(source, readonly=False) != validity:
                    raise ProviderTemporaryError(f"UIDVALIDITY of {source} changed during the push")
        flag = sorted(proven)
        if flag:
            self.client.add_flags(uid_ranges(flag), [DELETED], silent=True)
            if self.can_uid_expunge:
                # UID EXPUNGE of exactly these UIDs: a plain EXPUNGE would also purge
                # whatever else the user had flagged \Deleted.
                self.client.uid_expunge(uid_ranges(flag))
        for uid, group in by_uid.items():
            if uid in proven:
                self._moved(group, source, target, proven[uid], flagged_only=not self.can_uid_expunge)
            elif uid in refused:
                for item in group:
                    item.settle("failed", f"{refused[uid]}; the original was left in {source}")
            else:
                for item in group:
                    item.settle(
                        "failed",
                        f"copied to {target}, but the copy could not be confirmed, so the original "
                        f"was left in {source} untouched",
                    )

    def _find_new_copies(
        self, target: str, dest_validity: int, uidnext: int, uids: list[int], live: dict[int, LiveMessage]
    ) -> dict[int, Location]:
        """The copies a COPY without COPYUID made: proven only when unambiguous."""
        validity = self._select(target, readonly=True)
        if validity is None or validity != dest_validity:
            return {}
        search = search_message_ids(self.client, [live[u].message_id for u in uids if live[u].message_id])
        candidates = {
            u: [t for t in search.found.get(live[u].message_id, []) if t >= uidnext]
            for u in uids
            if live[u].message_id
        }
        # A candidate the server will not read is no proof: its original stays untouched.
        sizes, _refused = self._read_live(sorted({t for ts in candidates.values() for t in ts}))
        proven: dict[int, Location] = {}
        for uid, targets in candidates.items():
            if len(targets) == 1 and targets[0] in sizes and sizes[targets[0]].size == live[uid].size:
                proven[uid] = Location(target, validity, targets[0])
        return proven

    def _copied_earlier(
        self, target: str, by_uid: dict[int, list[Item]], live: dict[int, LiveMessage]
    ) -> dict[int, Location | str]:
        """COPY-based moves: originals whose live copy is already in the target.

        An interrupted earlier attempt (or the user) may have copied it already: then a
        retry only flags the original instead of copying a second time. Only a *live* copy
        counts — a \\Deleted leftover is no copy (that mistake once destroyed mail) — and
        it must be exactly one, with the original's Message-ID and size. Several live
        copies, or a target that cannot be searched, leave the original alone (a string
        with the reason).
        """
        wanted = {u: live[u].message_id for u in by_uid if live[u].message_id}
        if not wanted:
            return {}
        validity = self._select(target, readonly=True)
        if validity is None:
            return {u: f"{target} could not be opened" for u in wanted}
        search = search_message_ids(self.client, list(wanted.values()))
        hits = sorted({t for ts in search.found.values() for t in ts})
        sizes, unreadable = self._read_live(hits)
        done: dict[int, Location | str] = {}
        for uid, mid in wanted.items():
            if mid in search.refused:
                done[uid] = f"could not check {target} for an earlier copy: {search.refused[mid]}"
                continue
            if any(t in unreadable for t in search.found.get(mid, [])):
                # A copy may be there that cannot be compared: copying again could make a
                # second one, so the original is left alone and the change says why.
                done[uid] = f"could not check {target} for an earlier copy: " + self._unreadable(
                    target, next(t for t in search.found[mid] if t in unreadable), unreadable
                )
                continue
            same = [t for t in search.found.get(mid, []) if t in sizes and sizes[t].size == live[uid].size]
            if len(same) == 1:
                done[uid] = Location(target, validity, same[0])
            elif len(same) > 1:
                done[uid] = (
                    f"{len(same)} copies with Message-ID {mid} are in {target} already: not copied again"
                )
        return done

    def _moved(
        self, items: list[Item], source: str, target: str, place: Location | None, *, flagged_only: bool
    ) -> None:
        note = f"moved from {source} to {target}"
        if flagged_only:
            # No UIDPLUS means no UID EXPUNGE, and a plain EXPUNGE would purge other mail
            # the user flagged: the original stays flagged \Deleted, and that is safe
            # because the live copy in the target was proven first.
            note += (
                f" (the original stays flagged \\Deleted in {source}: "
                "this server cannot expunge single messages)"
            )
        for item in items:
            item.settle("moved", note)
            if place is not None:
                item.new = place.fields()

    def _follow(self, items: Iterable[Item]) -> None:
        """Hand the new locations not handed yet to ``follow``, each once."""
        if self.follow is None:
            return
        moved: dict[str, dict[str, object]] = {}
        for item in items:
            if item.new is not None and not item.followed:
                item.followed = True
                if item.new["key"] != item.key:
                    moved[item.key] = item.new
        if moved:
            self.follow(moved)

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
            if item.new is not None and item.new["key"] != item.key and not item.followed:
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
