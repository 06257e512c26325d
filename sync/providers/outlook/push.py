"""Outlook push: app actions become Graph moves.

archive → move to ``archive``, unarchive → ``inbox``, trash → ``deleteditems`` (never
``DELETE``: a delete in the app only ever reaches the provider's Trash).

Each message is first located (``GET …?$select=id,parentFolderId``) so that a push is
idempotent and only moves what the action is about:

* already in the destination → skipped ("already there");
* gone at the provider (404) → nothing left to do;
* archive moves only what is in the Inbox and unarchive only what is in the Archive — a
  conversation's sent messages stay in Sent Items, and a message the user filed elsewhere in
  Outlook stays there; trash moves it from wherever it is.
* archive is conversation-level, as the app's Inbox is: every Inbox message of the Outlook
  conversation (``conversationId``) moves to Archive, also those the app never imported,
  so the conversation does not stay in Outlook's Inbox. Trash stays exact: only the
  messages the app knows.
* a 403 for one message (a delegate without access to its folder) fails that message, not
  the account.

Progress: every change reports the keys it finished (``PushResult.done_keys``; moved,
already there, nothing to do), also when it must retry — a whole batch failing part-way
included — so the outbox's next attempt does only what is left.

Both rounds go out as ``$batch`` calls of ≤ 20, within the mailbox's 4 concurrent requests
(see ``client``). Changes are applied in order: consecutive changes that touch different
messages share batches; a change touching a message of an earlier one waits for the next
round. A throttled part (429 + Retry-After) makes its change — and every later change, to
keep the order — come back later (``Outcome.RETRY`` with ``retry_after``).
"""

from __future__ import annotations

import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sync.errors import ProviderAuthError, ProviderTemporaryError
from sync.providers.base import Outcome, PushRequest, PushResult
from sync.providers.outlook.client import GraphClient, GraphNotFound, GraphRequestError, SubRequest, quote_id
from sync.providers.outlook.folders import FolderMap

# Inbox messages of one conversation looked up per archive (a conversation rarely has more).
CONVERSATION_PAGE = 100

DESTINATION = {"archive": "archive", "unarchive": "inbox", "trash": "deleteditems"}
# Where a message must be for the action to move it (None: anywhere but the destination).
SOURCE = {"archive": "inbox", "unarchive": "archive", "trash": None}


@dataclass
class _Change:
    request: PushRequest
    moved: int = 0
    already_there: int = 0
    gone: int = 0
    left_alone: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    retry_errors: list[str] = field(default_factory=list)
    retry_after: float | None = None
    relocated: dict[str, dict[str, object]] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    conversation_moves: int = 0  # Inbox messages of its conversations the app had not imported
    only_throttled: bool = True  # every retry error was Graph saying "slow down"

    def retry(self, exc: ProviderTemporaryError) -> None:
        self.retry_errors.append(str(exc))
        self.only_throttled = self.only_throttled and exc.throttled
        if exc.retry_after is not None:
            self.retry_after = max(self.retry_after or 0.0, exc.retry_after)

    def result(self) -> PushResult:
        details: dict[str, object] = {
            "moved": self.moved,
            "already_there": self.already_there,
            "gone": self.gone,
        }
        if self.left_alone:
            details["left_alone"] = dict(self.left_alone)
        if self.conversation_moves:
            details["conversation_moves"] = self.conversation_moves
        if self.errors:
            details["errors"] = self.errors[:20]
        if self.retry_errors:
            return PushResult(
                self.request.change_id,
                Outcome.RETRY,
                error=self.retry_errors[0],
                retry_after=self.retry_after,
                details=details,
                relocated=self.relocated,
                done_keys=list(self.done),
                throttled=self.only_throttled,
            )
        if self.errors:
            n = len(self.errors)
            return PushResult(
                self.request.change_id,
                Outcome.FAILED,
                error=f"{n} message{'s' if n != 1 else ''} could not be moved: {self.errors[0]}",
                details=details,
                relocated=self.relocated,
                done_keys=list(self.done),
            )
        return PushResult(
            self.request.change_id,
            Outcome.DONE,
            details=details,
            relocated=self.relocated,
            done_keys=list(self.done),
        )


@dataclass
class _Item:
    change: _Change
    key: str
    folder: str = ""  # where it is now (well-known name or folder id)
    extra: bool = False  # not one of the change's refs: another Inbox message of its conversation

    def finished(self) -> None:
        if not self.extra:
            self.change.done.append(self.key)


def _groups(requests: Sequence[PushRequest]) -> list[list[PushRequest]]:
    """Consecutive changes touching different messages, so one batch may serve them all."""
    groups: list[list[PushRequest]] = []
    keys: set[str] = set()
    for request in requests:
        mine = {str(ref.get("key", "")) for ref in request.refs}
        if groups and not (keys & mine):
            groups[-1].append(request)
            keys |= mine
        else:
            groups.append([request])
            keys = set(mine)
    return groups


def push_changes(graph: GraphClient, folders: FolderMap, requests: Sequence[PushRequest]) -> list[PushResult]:
    results: list[PushResult] = []
    groups = _groups(requests)
    for index, group in enumerate(groups):
        try:
            changes = _push_group(graph, folders, group)
        except _GroupAborted as aborted:
            exc = aborted.error
            # The whole call was throttled or failed: this and every later change wait.
            for position, request in enumerate(r for g in groups[index:] for r in g):
                # The first one was tried; the rest only wait behind it and keep their attempts.
                outcome = Outcome.RETRY if position == 0 else Outcome.DEFERRED
                results.append(
                    PushResult(
                        request.change_id,
                        outcome,
                        error=str(exc),
                        retry_after=exc.retry_after,
                        done_keys=aborted.progress.get(request.change_id, []),
                        throttled=exc.throttled,
                    )
                )
            return results
        results.extend(change.result() for change in changes)
        waiting = [c for c in changes if c.retry_errors]
        if waiting:
            # Later changes may undo what these still have to do: keep them in order.
            retry_after = max((c.retry_after or 0.0 for c in waiting), default=0.0) or None
            for request in (r for g in groups[index + 1 :] for r in g):
                results.append(
                    PushResult(
                        request.change_id,
                        Outcome.DEFERRED,
                        error="waiting for an earlier change that Microsoft asked to retry",
                        retry_after=retry_after,
                    )
                )
            return results
    return results


class _GroupAborted(Exception):
    """A whole call of the group failed; ``progress`` holds what its changes had finished."""

    def __init__(self, error: ProviderTemporaryError, progress: dict[int, list[str]]) -> None:
        super().__init__(str(error))
        self.error = error
        self.progress = progress


def _push_group(graph: GraphClient, folders: FolderMap, group: list[PushRequest]) -> list[_Change]:
    changes = [_Change(request) for request in group]
    items: list[_Item] = []
    for change in changes:
        kind = change.request.kind
        if kind not in DESTINATION:
            change.errors.append(f"unknown change kind {kind!r}")
            continue
        if kind == "archive" and not folders.has("archive"):
            change.errors.append("this Outlook mailbox has no Archive folder")
            continue
        for ref in change.request.refs:
            key = str(ref.get("key") or "")
            if key:
                items.append(_Item(change, key))
            else:
                change.errors.append("a message without a Graph id")

    try:
        # Round 1: where is each message now?
        located: list[_Item] = []
        locate = [
            SubRequest(str(i), "GET", graph.path(f"/messages/{quote_id(item.key)}?$select=id,parentFolderId"))
            for i, item in enumerate(items)
        ]
        for part, answer in graph.batched(locate):
            item = items[int(part.id)]
            if answer.ok:
                item.folder = folders.name_of(str((answer.body or {}).get("parentFolderId", "")))
                located.append(item)
                continue
            _record_failure(item, answer.error(f"locating message {item.key[:16]}…"))
        located += _conversation_inbox(graph, folders, changes, located)

        # Round 2: move what the action is about.
        to_move: list[_Item] = []
        for item in located:
            kind = item.change.request.kind
            destination = DESTINATION[kind]
            if item.folder == destination or (kind == "trash" and folders.is_deleted(item.folder)):
                # (Trash: Recoverable Items Deletions is further gone than Deleted Items.)
                item.change.already_there += 1
                item.change.relocated[item.key] = {"key": item.key, "folder": destination}
                item.finished()
            elif SOURCE[kind] is not None and item.folder != SOURCE[kind]:
                item.change.left_alone[_label(item.folder)] += 1
                item.change.relocated[item.key] = {"key": item.key, "folder": item.folder}
                item.finished()
            else:
                to_move.append(item)
        moves = [
            SubRequest(
                str(i),
                "POST",
                graph.path(f"/messages/{quote_id(item.key)}/move"),
                {"destinationId": DESTINATION[item.change.request.kind]},
            )
            for i, item in enumerate(to_move)
        ]
        for part, answer in graph.batched(moves):
            item = to_move[int(part.id)]
            destination = DESTINATION[item.change.request.kind]
            if answer.ok:
                if item.extra:
                    item.change.conversation_moves += 1
                    item.change.relocated[item.key] = {"key": item.key, "folder": destination}
                    continue
                item.change.moved += 1
                # Immutable ids survive the move; should Graph still hand back another id, follow it.
                new_key = str((answer.body or {}).get("id") or item.key)
                item.change.relocated[item.key] = {"key": new_key, "folder": destination}
                item.finished()
                continue
            _record_failure(item, answer.error(f"moving message {item.key[:16]}… to {destination}"))
    except ProviderTemporaryError as exc:
        # A whole batch failed (the move round, say) after some parts had already been
        # answered "429, retry after N": the change must still wait those N seconds.
        progress = {c.request.change_id: list(c.done) for c in changes if c.done}
        waits = [c.retry_after for c in changes if c.retry_after]
        if waits and max(waits) > (exc.retry_after or 0.0):
            exc = ProviderTemporaryError(str(exc), retry_after=max(waits), progress=progress)
        raise _GroupAborted(exc, progress) from exc
    return changes


def _conversation_inbox(
    graph: GraphClient, folders: FolderMap, changes: list[_Change], located: list[_Item]
) -> list[_Item]:
    """For archive changes: the other Inbox messages of each Outlook conversation they touch
    (the app's conversation leaves the Inbox as a whole, so Outlook's must too)."""
    known = {item.key for item in located}
    wanted: dict[str, _Change] = {}
    for change in changes:
        if change.request.kind != "archive":
            continue
        for ref in change.request.refs:
            thread = str(ref.get("thread_id") or "")
            if thread:
                wanted.setdefault(thread, change)
    threads = sorted(wanted)
    parts = []
    for i, thread in enumerate(threads):
        query = urllib.parse.urlencode(
            {
                "$filter": "conversationId eq '{}'".format(thread.replace("'", "''")),
                "$select": "id,parentFolderId",
                "$top": str(CONVERSATION_PAGE),
            }
        )
        parts.append(SubRequest(str(i), "GET", graph.path(f"/mailFolders/inbox/messages?{query}")))
    extra: list[_Item] = []
    for part, answer in graph.batched(parts):
        change = wanted[threads[int(part.id)]]
        if not answer.ok:
            error = answer.error("listing the conversation's Inbox messages")
            if isinstance(error, ProviderTemporaryError):
                change.retry(error)
            # Otherwise (403, 404): the known messages still move; the rest stay.
            continue
        page = answer.body or {}
        while True:
            for message in page.get("value", []):
                key = str(message.get("id") or "")
                if key and key not in known:
                    known.add(key)
                    folder = folders.name_of(str(message.get("parentFolderId", "")))
                    extra.append(_Item(change, key, folder, extra=True))
            # A conversation with more Inbox messages than one page: every one of them moves.
            next_link = str(page.get("@odata.nextLink") or "")
            if not next_link or not graph.owns(next_link):
                break
            try:
                page = graph.get_json(next_link)
            except ProviderTemporaryError as exc:
                change.retry(exc)  # the conversation is not archived whole yet: again later
                break
            except GraphRequestError:
                break  # (403, 404): what was listed still moves
    return extra


def _record_failure(item: _Item, error: Exception) -> None:
    if item.extra:
        if isinstance(error, ProviderTemporaryError):
            item.change.retry(error)  # the conversation is not archived whole yet: again later
        return
    if isinstance(error, GraphNotFound):
        # Gone from the mailbox meanwhile: nothing left to move.
        item.change.gone += 1
        item.finished()
    elif isinstance(error, ProviderTemporaryError):
        item.change.retry(error)
    elif isinstance(error, ProviderAuthError):
        raise error
    else:
        item.change.errors.append(str(error))


def _label(folder: str) -> str:
    return folder if folder in ("inbox", "sentitems", "archive", "deleteditems") else "another folder"
