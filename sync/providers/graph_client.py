"""Microsoft Graph over requests: immutable ids, error mapping, JSON batching.

Every request — and every part of a ``$batch`` — carries ``Prefer: IdType="ImmutableId"``,
so a message keeps its id when it moves between folders (that id is our provider key).

Errors become the sync error types: 401 once → refresh the token and try again, twice →
``ProviderAuthError``; 403 → ``ProviderAuthError`` (consent or mailbox access withdrawn);
429 / 5xx / network → ``ProviderTemporaryError`` carrying Retry-After; 404 → ``GraphNotFound``;
410 → ``DeltaExpired``; anything else → ``GraphRequestError`` (permanent).

Concurrency: Exchange allows about 4 concurrent requests per mailbox and runs a batch's
parts about 4 at a time, so one client sends one request at a time per mailbox: a batch of
≤ 20 then keeps the mailbox at ≤ 4 in flight while saving 19 round trips.
"""

from __future__ import annotations

import email.utils
import logging
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from sync.errors import ProviderAuthError, ProviderPermanentError, ProviderTemporaryError
from sync.providers.graph_auth import GraphTokens

logger = logging.getLogger(__name__)

IMMUTABLE_ID = 'IdType="ImmutableId"'
MAX_BATCH = 20
TIMEOUT = (10, 120)  # connect, read (a large MIME download takes a while)


class GraphRequestError(ProviderPermanentError):
    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GraphNotFound(GraphRequestError):
    """The message or folder is not there (any more)."""


class DeltaExpired(GraphRequestError):
    """410: the folder's delta state is gone; start the folder over."""


def quote_id(graph_id: str) -> str:
    """Graph ids contain characters (``=``, ``/`` in older ids) that must be escaped in a path."""
    return urllib.parse.quote(graph_id, safe="")


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _error_of(body: Any) -> tuple[str, str]:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code", "")), str(body["error"].get("message", ""))
    return "", ""


def error_for(status: int, body: Any, retry_after: str | None, what: str) -> Exception:
    """The sync error for one Graph answer (a whole response or one batch part)."""
    code, message = _error_of(body)
    detail = f"{what}: {status} {code} {message}".strip()
    if status == 429 or status >= 500:
        return ProviderTemporaryError(
            f"Graph is busy ({detail})", retry_after=retry_after_seconds(retry_after)
        )
    if status in (401, 403):
        return ProviderAuthError(f"Graph refused access ({detail}); reconnect the mailbox.")
    if status == 404:
        return GraphNotFound(detail, status=status, code=code)
    if status == 410:
        return DeltaExpired(detail, status=status, code=code)
    return GraphRequestError(f"Graph refused the request ({detail})", status=status, code=code)


@dataclass(frozen=True)
class SubRequest:
    id: str
    method: str
    url: str  # relative to the Graph root, e.g. "/me/messages/{id}/move"
    body: dict[str, Any] | None = None


@dataclass
class SubResponse:
    id: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self, what: str) -> Exception:
        return error_for(self.status, self.body, self.headers.get("Retry-After"), what)


class GraphClient:
    """One mailbox's view of Graph (``/me`` or a shared mailbox's ``/users/{address}``)."""

    def __init__(self, tokens: GraphTokens, session: requests.Session, root: str, mailbox_path: str) -> None:
        self.tokens = tokens
        self.session = session
        self.root = root.rstrip("/")
        self.mailbox_path = mailbox_path
        self.requests_sent = 0

    def path(self, tail: str) -> str:
        """A mailbox-relative path, e.g. ``path("/messages/x/move")`` → ``/me/messages/x/move``."""
        return f"{self.mailbox_path}{tail}"

    def url(self, tail: str) -> str:
        return f"{self.root}{self.path(tail)}"

    def owns(self, absolute_url: str) -> bool:
        """A stored link is only followed when it points at our Graph root (the bearer token
        must never be sent anywhere else)."""
        return absolute_url.startswith(self.root + "/")

    def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        prefer: Sequence[str] = (),
        what: str = "",
        stream: bool = False,
    ) -> requests.Response:
        for attempt in range(2):
            token = self.tokens.access_token(force_refresh=attempt > 0)
            headers = {
                "Authorization": f"Bearer {token}",
                "Prefer": ", ".join([IMMUTABLE_ID, *prefer]),
                "Accept": "application/json",
            }
            try:
                self.requests_sent += 1
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers=headers,
                    timeout=TIMEOUT,
                    stream=stream,
                )
            except requests.RequestException as exc:
                raise ProviderTemporaryError(f"Graph is unreachable ({what or url}): {exc}") from exc
            # A 401 with a token msal still thought valid (revoked, clock skew): refresh once.
            if response.status_code == 401 and attempt == 0:
                continue
            break
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise error_for(response.status_code, body, response.headers.get("Retry-After"), what or url)
        return response

    def get_json(self, url: str, *, params: dict[str, str] | None = None, prefer: Sequence[str] = ()) -> Any:
        return self.request("GET", url, params=params, prefer=prefer).json()

    def batch(self, parts: Sequence[SubRequest]) -> dict[str, SubResponse]:
        """One ``$batch`` call of ≤ 20 parts; answers by part id (they come in any order)."""
        if not parts:
            return {}
        if len(parts) > MAX_BATCH:
            raise ValueError(f"a Graph batch holds at most {MAX_BATCH} requests, got {len(parts)}")
        payload = {"requests": [self._part(p) for p in parts]}
        response = self.request("POST", f"{self.root}/$batch", json_body=payload, what="$batch")
        try:
            answers = response.json()["responses"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderTemporaryError(f"Graph sent an unreadable batch answer: {exc}") from exc
        out: dict[str, SubResponse] = {}
        for answer in answers:
            headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
            # Header names inside batch answers are not case-normalised by requests.
            retry = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
            if retry is not None:
                headers["Retry-After"] = retry
            out[str(answer.get("id"))] = SubResponse(
                str(answer.get("id")), int(answer.get("status", 0)), headers, answer.get("body")
            )
        for part in parts:
            # A part Graph did not answer is treated as "try again", never as success.
            out.setdefault(part.id, SubResponse(part.id, 503, {}, None))
        return out

    def batched(self, parts: Sequence[SubRequest]) -> Iterator[tuple[SubRequest, SubResponse]]:
        """Any number of parts, sent as consecutive batches of ≤ 20 (one in flight at a time)."""
        for start in range(0, len(parts), MAX_BATCH):
            chunk = parts[start : start + MAX_BATCH]
            answers = self.batch(chunk)
            for part in chunk:
                yield part, answers[part.id]

    @staticmethod
    def _part(part: SubRequest) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": part.id,
            "method": part.method,
            "url": part.url,
            # Batch parts do not inherit the outer request's headers.
            "headers": {"Prefer": IMMUTABLE_ID},
        }
        if part.body is not None:
            data["body"] = part.body
            data["headers"]["Content-Type"] = "application/json"
        return data
