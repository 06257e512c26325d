"""App → Gmail: archive, unarchive and trash, batched and idempotent.

* archive   = ``messages.batchModify`` removing INBOX (≤ 1000 ids a call)
* unarchive = ``messages.batchModify`` adding INBOX to the messages that came in through
  the Inbox (adding INBOX to a sent message would put the user's own mail in their Inbox)
* trash     = ``messages.trash`` in HTTP batches (≤ 50 a batch); never a permanent delete

Changes are applied in order; consecutive changes of one kind share calls. Once a change
must wait (429, 5xx, rateLimitExceeded), every later change waits too, so an archive and
the unarchive after it can never swap. Repeating any of this is harmless: removing a
label a message lacks, or trashing a message already in Trash, changes nothing, and a
message Gmail no longer has counts as done.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sync.errors import ProviderPermanentError, ProviderTemporaryError
from sync.providers.base import Outcome, PushRequest, PushResult
from sync.providers.gmail.client import GmailBadRequest, GmailClient, GmailNotFound

MODIFY_LIMIT = 1000  # ids per messages.batchModify, Gmail's maximum
DETAIL_IDS = 20  # how many ids a change's details list by name


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
        try:
            if kind == "archive":
                group_results = _modify(client, group, remove=["INBOX"])
            elif kind == "unarchive":
                group_results = _modify(client, group, add=["INBOX"])
            elif kind == "trash":
                group_results = _trash(client, group)
            else:
                group_results = [
                    PushResult(r.change_id, Outcome.FAILED, error=f"Gmail cannot apply a {kind!r} change")
                    for r in group
                ]
        except ProviderTemporaryError as exc:
            group_results = [
                PushResult(r.change_id, Outcome.RETRY, error=str(exc), retry_after=exc.retry_after)
                for r in group
            ]
        except ProviderPermanentError as exc:
            group_results = [PushResult(r.change_id, Outcome.FAILED, error=str(exc)) for r in group]
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


def _modify(
    client: GmailClient,
    group: list[PushRequest],
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
) -> list[PushResult]:
    per_change = {r.change_id: _keys(r.refs, inbox_only=bool(add)) for r in group}
    ids = _ordered_union(list(per_change.values()))
    gone: set[str] = set()
    for start in range(0, len(ids), MODIFY_LIMIT):
        gone |= _batch_modify(client, ids[start : start + MODIFY_LIMIT], add or [], remove or [])
    verb = "moved back to the Inbox" if add else "archived"
    results = []
    for change_id, keys in per_change.items():
        missing = [k for k in keys if k in gone]
        details: dict[str, object] = {verb: len(keys) - len(missing)}
        if missing:
            details["no longer in Gmail"] = missing[:DETAIL_IDS]
        results.append(PushResult(change_id, Outcome.DONE, details=details))
    return results


def _batch_modify(client: GmailClient, ids: list[str], add: list[str], remove: list[str]) -> set[str]:
    """Change labels on up to 1000 messages; returns the ids Gmail no longer has."""
    if not ids:
        return set()
    body = {"ids": ids, "addLabelIds": add, "removeLabelIds": remove}
    try:
        client.call(client.users.messages().batchModify(userId="me", body=body))
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
            client.users.messages().batchModify(
                userId="me", body={"ids": existing, "addLabelIds": add, "removeLabelIds": remove}
            )
        )
    return missing


def _missing(client: GmailClient, ids: list[str]) -> set[str]:
    answers = client.batch(
        [(i, client.users.messages().get(userId="me", id=i, format="minimal")) for i in ids]
    )
    missing = set()
    for gmail_id, answer in answers.items():
        if isinstance(answer.error, GmailNotFound):
            missing.add(gmail_id)
        elif answer.error is not None:
            raise answer.error
    return missing


def _trash(client: GmailClient, group: list[PushRequest]) -> list[PushResult]:
    per_change = {r.change_id: _keys(r.refs) for r in group}
    ids = _ordered_union(list(per_change.values()))
    answers = client.batch([(i, client.users.messages().trash(userId="me", id=i)) for i in ids])
    for answer in answers.values():
        if answer.error is not None and not isinstance(
            answer.error, (ProviderTemporaryError, ProviderPermanentError)
        ):
            raise answer.error  # the credentials stopped working: the whole push waits
    results = []
    for change_id, keys in per_change.items():
        errors = [answers[k].error for k in keys if answers[k].error is not None]
        gone = [k for k in keys if isinstance(answers[k].error, GmailNotFound)]
        failures = [e for e in errors if not isinstance(e, GmailNotFound)]
        temporary = [e for e in failures if isinstance(e, ProviderTemporaryError)]
        moved = len(keys) - len(errors)
        details: dict[str, object] = {"moved to Trash": moved}
        if gone:
            details["no longer in Gmail"] = gone[:DETAIL_IDS]
        if temporary:
            slowest = max(temporary, key=lambda e: e.retry_after or 0)
            results.append(
                PushResult(
                    change_id,
                    Outcome.RETRY,
                    error=f"{slowest} ({moved} of {len(keys)} moved to Trash so far)",
                    retry_after=slowest.retry_after,
                    details=details,
                )
            )
        elif failures:
            results.append(PushResult(change_id, Outcome.FAILED, error=str(failures[0]), details=details))
        else:
            results.append(PushResult(change_id, Outcome.DONE, details=details))
    return results
