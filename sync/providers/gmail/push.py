"""App → Gmail: archive, unarchive and trash, batched, idempotent, and resumable.

* archive   = the whole Gmail **thread** leaves the Inbox: Gmail shows a thread in the Inbox
  while any of its messages has INBOX, so archiving only the messages the app knows would
  leave the conversation in the user's Gmail Inbox. A few threads: ``threads.modify``
  (removeLabelIds INBOX) each, in one HTTP batch. Many: one ids-and-threads listing of the
  Inbox finds every Inbox message of those threads, then ``messages.batchModify`` (≤ 1000
  ids a call) removes INBOX from all of them.
* unarchive = ``messages.batchModify`` adding INBOX to the app's messages that came in
  through the Inbox (adding INBOX to a sent message would put the user's own mail in their
  Inbox); nothing else of the thread.
* trash     = ``messages.trash`` of exactly the messages the app knows, in HTTP batches
  (≤ 50 a batch); never a permanent delete.

Every result carries ``done_keys``: the provider keys finished in this attempt (done, or
nothing to do), whatever the outcome, so the outbox's next attempt sends only the rest — a
change of 1,000 messages that fails at message 600 resumes at 601.

Changes are applied in order; consecutive changes of one kind share calls. Once a change
must wait (429, 5xx, rateLimitExceeded), every later change waits too, so an archive and
the unarchive after it can never swap. Repeating any of this is harmless: removing a
label a message lacks, or trashing a message already in Trash, changes nothing, and a
message Gmail no longer has counts as done.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sync.errors import ProviderAuthError, ProviderPermanentError, ProviderTemporaryError
from sync.providers.base import Outcome, PushRequest, PushResult
from sync.providers.gmail.client import (
    GmailBadRequest,
    GmailBatchInterrupted,
    GmailClient,
    GmailNotFound,
    PartResult,
)

MODIFY_LIMIT = 1000  # ids per messages.batchModify, Gmail's maximum
DETAIL_IDS = 20  # how many ids a change's details list by name
# Up to this many threads are archived with one threads.modify each (one HTTP batch, ~10
# quota units a call); more go through one Inbox listing and batchModify, far cheaper.
THREAD_CALLS_LIMIT = 25
INBOX_LIST_FIELDS = "messages(id,threadId),nextPageToken"


@dataclass
class Progress:
    """What one group of changes got done before it stopped (if it stopped)."""

    done: set[str] = field(default_factory=set)  # provider keys finished
    gone: set[str] = field(default_factory=set)  # keys Gmail no longer has (finished too)
    stopped: ProviderTemporaryError | None = None  # why the rest must wait
    failed: dict[str, ProviderPermanentError] = field(default_factory=dict)  # key -> refusal
    extra: int = 0  # other Inbox messages of the threads (archive)


def push_changes(client: GmailClient, requests: Sequence[PushRequest]) -> list[PushResult]:
    results: list[PushResult] = []
    waiting: PushResult | None = None
    for kind, group in _runs(requests):
        if waiting is not None:
            results += [
                PushResult(
                    r.change_id,
                    Outcome.DEFERRED,
                    error=f"waiting for an earlier change: {waiting.error}",
                    retry_after=waiting.retry_after,
                )
                for r in group
            ]
            continue
        if kind == "archive":
            group_results = _results(group, _archive(client, group), verb="archived")
        elif kind == "unarchive":
            group_results = _results(
                group, _unarchive(client, group), verb="moved back to the Inbox", inbox_only=True
            )
        elif kind == "trash":
            group_results = _results(group, _trash(client, group), verb="moved to Trash")
        elif kind in ("read", "unread"):
            group_results = _results(group, _read_state(client, group, kind), verb=f"marked {kind}")
        else:
            group_results = [
                PushResult(r.change_id, Outcome.FAILED, error=f"Gmail cannot apply a {kind!r} change")
                for r in group
            ]
        results += group_results
        retrying = [r for r in group_results if r.outcome == Outcome.RETRY]
        if retrying:
            waiting = max(retrying, key=lambda r: r.retry_after or 0)
    return results


def _runs(requests: Sequence[PushRequest]) -> Iterator[tuple[str, list[PushRequest]]]:
    """Consecutive changes of the same kind, in order."""
    group: list[PushRequest] = []
    for request in requests:
        if group and request.kind != group[0].kind:
            yield group[0].kind, group
            group = []
        group.append(request)
    if group:
        yield group[0].kind, group


def _keys(refs: list[dict[str, object]], *, inbox_only: bool = False) -> list[str]:
    keys = []
    for ref in refs:
        if inbox_only and ref.get("folder") == "SENT":
            continue
        key = str(ref.get("key") or "")
        if key and key not in keys:
            keys.append(key)
    return keys


def _ordered_union(lists: list[list[str]]) -> list[str]:
    return list(dict.fromkeys(key for keys in lists for key in keys))


def _results(
    group: list[PushRequest], progress: Progress, *, verb: str, inbox_only: bool = False
) -> list[PushResult]:
    """One result per change from what the group got done: DONE when all its keys are
    finished, FAILED when Gmail refused one for good, else RETRY — always with done_keys."""
    results = []
    for request in group:
        all_keys = _keys(request.refs)
        acted = _keys(request.refs, inbox_only=inbox_only)
        # Sent mail needs nothing for an unarchive: finished as soon as the change is tried.
        finished = [k for k in all_keys if k in progress.done or k in progress.gone or k not in acted]
        gone = [k for k in acted if k in progress.gone]
        applied = len([k for k in acted if k in progress.done])
        details: dict[str, object] = {verb: applied}
        if progress.extra and verb == "archived":
            details["other Inbox messages of the threads archived"] = progress.extra
        if gone:
            details["no longer in Gmail"] = gone[:DETAIL_IDS]
        failures = [progress.failed[k] for k in acted if k in progress.failed]
        if len(finished) == len(all_keys):
            result = PushResult(request.change_id, Outcome.DONE, details=details)
        elif progress.stopped is not None:
            result = PushResult(
                request.change_id,
                Outcome.RETRY,
                error=f"{progress.stopped} ({applied} of {len(acted)} {verb} so far)",
                retry_after=progress.stopped.retry_after,
                details=details,
                throttled=progress.stopped.throttled,
            )
        else:
            error = str(failures[0]) if failures else "Gmail did not finish this change"
            result = PushResult(request.change_id, Outcome.FAILED, error=error, details=details)
        result.done_keys = finished
        results.append(result)
    return results


# --- archive: the whole thread ------------------------------------------------------------
def _archive(client: GmailClient, group: list[PushRequest]) -> Progress:
    progress = Progress()
    threads: dict[str, list[str]] = {}  # thread id -> the app's keys in it
    loose: list[str] = []  # keys without a known thread
    for request in group:
        for ref in request.refs:
            key, thread = str(ref.get("key") or ""), str(ref.get("thread_id") or "")
            if not key:
                continue
            if thread:
                threads.setdefault(thread, [])
                if key not in threads[thread]:
                    threads[thread].append(key)
            elif key not in loose:
                loose.append(key)
    try:
        if len(threads) <= THREAD_CALLS_LIMIT:
            _archive_threads_one_by_one(client, threads, progress)
            ids = loose
        else:
            ids = _ordered_union([*threads.values(), loose])
            progress.extra = _archive_other_inbox_messages(client, set(threads), set(ids))
        _modify_in_chunks(client, ids, progress, remove=["INBOX"])
    except ProviderTemporaryError as exc:
        progress.stopped = exc
    return progress


def _archive_threads_one_by_one(
    client: GmailClient, threads: dict[str, list[str]], progress: Progress
) -> None:
    if not threads:
        return
    body = {"removeLabelIds": ["INBOX"]}
    answers = _batch(
        client,
        [(t, client.users.threads().modify(userId="me", id=t, body=body)) for t in threads],
    )
    for thread, keys in threads.items():
        answer = answers.get(thread)
        if answer is None:
            continue
        if answer.error is None:
            progress.done.update(keys)
            progress.extra += max(0, len((answer.response or {}).get("messages") or []) - len(keys))
        elif isinstance(answer.error, GmailNotFound):
            progress.gone.update(keys)  # the whole thread is gone from Gmail
        elif isinstance(answer.error, ProviderTemporaryError):
            progress.stopped = progress.stopped or answer.error
        elif isinstance(answer.error, ProviderPermanentError):
            progress.failed.update({k: answer.error for k in keys})
        else:
            raise answer.error
    if len(answers) < len(threads) and progress.stopped is None:
        progress.stopped = answers.interrupted or ProviderTemporaryError("Gmail stopped answering part-way")
    if progress.stopped is not None:
        raise progress.stopped


def _archive_other_inbox_messages(client: GmailClient, threads: set[str], known: set[str]) -> int:
    """Every other Inbox message of these threads loses INBOX too: found with one listing
    of the Inbox (ids and thread ids only), changed with batchModify. Returns how many."""
    others: list[str] = []
    page_token = None
    while True:
        page = client.call(
            client.messages.list(
                userId="me",
                labelIds=["INBOX"],
                maxResults=500,
                pageToken=page_token,
                fields=INBOX_LIST_FIELDS,
            )
        )
        others += [
            str(m["id"])
            for m in page.get("messages", [])
            if m.get("threadId") in threads and str(m["id"]) not in known
        ]
        page_token = page.get("nextPageToken")
        if not page_token:
            break
    scratch = Progress()
    _modify_in_chunks(client, others, scratch, remove=["INBOX"])
    return len(scratch.done)


# --- unarchive: the app's Inbox messages --------------------------------------------------
def _unarchive(client: GmailClient, group: list[PushRequest]) -> Progress:
    progress = Progress()
    ids = _ordered_union([_keys(r.refs, inbox_only=True) for r in group])
    try:
        _modify_in_chunks(client, ids, progress, add=["INBOX"])
    except ProviderTemporaryError as exc:
        progress.stopped = exc
    return progress


def _read_state(client: GmailClient, group: list[PushRequest], kind: str) -> Progress:
    """Read = the UNREAD label goes, unread = it comes back (batchModify, ≤ 1000 a call)."""
    progress = Progress()
    ids = _ordered_union([_keys(r.refs) for r in group])
    label = {"remove": ["UNREAD"]} if kind == "read" else {"add": ["UNREAD"]}
    try:
        _modify_in_chunks(client, ids, progress, **label)
    except ProviderTemporaryError as exc:
        progress.stopped = exc
    return progress


def _modify_in_chunks(
    client: GmailClient,
    ids: list[str],
    progress: Progress,
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
) -> None:
    """batchModify ≤ 1000 ids a call, in order; each chunk that went through is done. A
    temporary failure raises (the chunks before it stay done)."""
    for start in range(0, len(ids), MODIFY_LIMIT):
        chunk = ids[start : start + MODIFY_LIMIT]
        gone = _batch_modify(client, chunk, add or [], remove or [])
        progress.gone |= gone
        progress.done.update(i for i in chunk if i not in gone)


def _batch_modify(client: GmailClient, ids: list[str], add: list[str], remove: list[str]) -> set[str]:
    """Change labels on up to 1000 messages; returns the ids Gmail no longer has."""
    if not ids:
        return set()
    body = {"ids": ids, "addLabelIds": add, "removeLabelIds": remove}
    try:
        client.call(client.messages.batchModify(userId="me", body=body))
        return set()
    except (GmailNotFound, GmailBadRequest):
        # Gmail refuses the whole call when one id is gone (deleted there since): find out
        # which still exist and change those; the gone ones need nothing more.
        missing = _missing(client, ids)
        if not missing:
            raise
    existing = [i for i in ids if i not in missing]
    if existing:
        client.call(
            client.messages.batchModify(
                userId="me", body={"ids": existing, "addLabelIds": add, "removeLabelIds": remove}
            )
        )
    return missing


def _missing(client: GmailClient, ids: list[str]) -> set[str]:
    answers = _batch(client, [(i, client.messages.get(userId="me", id=i, format="minimal")) for i in ids])
    missing = set()
    for gmail_id in ids:
        answer = answers.get(gmail_id)
        if answer is None:
            raise ProviderTemporaryError("Gmail did not say whether every message still exists")
        if isinstance(answer.error, GmailNotFound):
            missing.add(gmail_id)
        elif answer.error is not None:
            raise answer.error
    return missing


# --- trash: exactly the app's messages ----------------------------------------------------
def _trash(client: GmailClient, group: list[PushRequest]) -> Progress:
    progress = Progress()
    ids = _ordered_union([_keys(r.refs) for r in group])
    answers = _batch(client, [(i, client.messages.trash(userId="me", id=i)) for i in ids])
    for gmail_id in ids:
        answer = answers.get(gmail_id)
        if answer is None:
            continue  # not sent: the batch stopped before it (progress.stopped says why)
        if answer.error is None:
            progress.done.add(gmail_id)
        elif isinstance(answer.error, GmailNotFound):
            progress.gone.add(gmail_id)
        elif isinstance(answer.error, ProviderTemporaryError):
            progress.stopped = _slowest(progress.stopped, answer.error)
        elif isinstance(answer.error, ProviderPermanentError):
            progress.failed[gmail_id] = answer.error
        else:
            raise answer.error  # the credentials stopped working: the whole push waits
    if len(answers) < len(ids) and progress.stopped is None:
        progress.stopped = answers.interrupted or ProviderTemporaryError("Gmail stopped answering part-way")
    return progress


def _slowest(current: ProviderTemporaryError | None, new: ProviderTemporaryError) -> ProviderTemporaryError:
    if current is None or (new.retry_after or 0) > (current.retry_after or 0):
        return new
    return current


class _Answers(dict[str, PartResult]):
    """Batch answers; ``interrupted`` is the error that stopped the batches part-way."""

    interrupted: ProviderTemporaryError | None = None


def _batch(client: GmailClient, requests: list[tuple[str, object]]) -> _Answers:
    """client.batch, but a batch request that fails part-way keeps the answers of the
    batches before it (they are done at Gmail) instead of losing them."""
    answers = _Answers()
    try:
        answers.update(client.batch(requests))  # type: ignore[arg-type]
    except GmailBatchInterrupted as exc:
        answers.update(exc.results)
        answers.interrupted = exc
    except ProviderAuthError:
        raise
    return answers
