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

Both rounds go out as ``$batch`` calls of ≤ 20, one at a time per mailbox (see
``graph_client``). Changes are applied in order: consecutive changes that touch different
messages share batches; a change touching a message of an earlier one waits for the next
round. A throttled part (429 + Retry-After) makes its change — and every later change, to
keep the order — come back later (``Outcome.RETRY`` with ``retry_after``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sync.errors import ProviderAuthError, ProviderTemporaryError
from sync.providers.base import Outcome, PushRequest, PushResult
from sync.providers.graph_client import GraphNotFound, SubRequest, quote_id

if TYPE_CHECKING:
    from sync.providers.outlook import OutlookAdapter

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

    def retry(self, exc: ProviderTemporaryError) -> None:
        self.retry_errors.append(str(exc))
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
            )
        if self.errors:
            n = len(self.errors)
            return PushResult(
                self.request.change_id,
                Outcome.FAILED,
                error=f"{n} message{'s' if n != 1 else ''} could not be moved: {self.errors[0]}",
                details=details,
                relocated=self.relocated,
            )
        return PushResult(self.request.change_id, Outcome.DONE, details=details, relocated=self.relocated)


@dataclass
class _Item:
    change: _Change
    key: str
    folder: str = ""  # where it is now (well-known name or folder id)


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


def push_changes(adapter: OutlookAdapter, requests: Sequence[PushRequest]) -> list[PushResult]:
    results: list[PushResult] = []
    groups = _groups(requests)
    for index, group in enumerate(groups):
        try:
            changes = _push_group(adapter, group)
        except ProviderTemporaryError as exc:
            # The whole call was throttled or failed: this and every later change wait.
            for position, request in enumerate(r for g in groups[index:] for r in g):
                # The first one was tried; the rest only wait behind it and keep their attempts.
                outcome = Outcome.RETRY if position == 0 else Outcome.DEFERRED
                results.append(
                    PushResult(request.change_id, outcome, error=str(exc), retry_after=exc.retry_after)
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


def _push_group(adapter: OutlookAdapter, group: list[PushRequest]) -> list[_Change]:
    folders = adapter.folders()
    graph = adapter.graph
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

        # Round 2: move what the action is about.
        to_move: list[_Item] = []
        for item in located:
            kind = item.change.request.kind
            destination = DESTINATION[kind]
            if item.folder == destination:
                item.change.already_there += 1
                item.change.relocated[item.key] = {"key": item.key, "folder": destination}
            elif SOURCE[kind] is not None and item.folder != SOURCE[kind]:
                item.change.left_alone[_label(item.folder)] += 1
                item.change.relocated[item.key] = {"key": item.key, "folder": item.folder}
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
                item.change.moved += 1
                # Immutable ids survive the move; should Graph still hand back another id, follow it.
                new_key = str((answer.body or {}).get("id") or item.key)
                item.change.relocated[item.key] = {"key": new_key, "folder": destination}
                continue
            _record_failure(item, answer.error(f"moving message {item.key[:16]}… to {destination}"))
    except ProviderTemporaryError as exc:
        # A whole batch failed (the move round, say) after some parts had already been
        # answered "429, retry after N": the change must still wait those N seconds.
        waits = [c.retry_after for c in changes if c.retry_after]
        if waits and max(waits) > (exc.retry_after or 0.0):
            raise ProviderTemporaryError(str(exc), retry_after=max(waits)) from exc
        raise
    return changes


def _record_failure(item: _Item, error: Exception) -> None:
    if isinstance(error, GraphNotFound):
        # Deleted at the provider meanwhile: nothing left to move.
        item.change.gone += 1
    elif isinstance(error, ProviderTemporaryError):
        item.change.retry(error)
    elif isinstance(error, ProviderAuthError):
        raise error
    else:
        item.change.errors.append(str(error))


def _label(folder: str) -> str:
    return folder if folder in ("inbox", "sentitems", "archive", "deleteditems") else "another folder"
