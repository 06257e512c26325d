"""Read state to Outlook: ``PATCH /messages/{id} {"isRead": …}`` for each message of a
read / unread change, through ``$batch`` (20 a request). A message Graph no longer has needs
nothing; a refusal for credentials stops the push; anything else retries the change."""

from __future__ import annotations

from collections.abc import Sequence

from sync.errors import ProviderAuthError, ProviderTemporaryError
from sync.providers.base import Outcome, PushRequest, PushResult
from sync.providers.outlook.client import GraphClient, SubRequest, quote_id


def push_read_state(graph: GraphClient, requests: Sequence[PushRequest]) -> list[PushResult]:
    results = []
    for request in requests:
        keys = list(dict.fromkeys(str(ref.get("key") or "") for ref in request.refs if ref.get("key")))
        body = {"isRead": request.kind == "read"}
        parts = [
            SubRequest(str(i), "PATCH", graph.path(f"/messages/{quote_id(key)}"), body)
            for i, key in enumerate(keys)
        ]
        done: list[str] = []
        gone = 0
        error: Exception | None = None
        for part, answer in graph.batched(parts):
            key = keys[int(part.id)]
            if answer.ok:
                done.append(key)
            elif answer.status == 404:
                done.append(key)
                gone += 1
            else:
                problem = answer.error(f"marking {key} {request.kind}")
                if isinstance(problem, ProviderAuthError):
                    raise problem
                error = error or problem
        details: dict[str, object] = {f"marked {request.kind}": len(done) - gone}
        if gone:
            details["no longer in Outlook"] = gone
        if error is None:
            results.append(PushResult(request.change_id, Outcome.DONE, details=details, done_keys=done))
        else:
            retry_after = error.retry_after if isinstance(error, ProviderTemporaryError) else None
            throttled = isinstance(error, ProviderTemporaryError) and error.throttled
            results.append(
                PushResult(
                    request.change_id,
                    Outcome.RETRY,
                    error=str(error),
                    retry_after=retry_after,
                    details=details,
                    done_keys=done,
                    throttled=throttled,
                )
            )
    return results
