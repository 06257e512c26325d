"""Microsoft Graph over requests: immutable ids, error mapping, JSON batching, and the
per-mailbox concurrency limit.

Every request — and every part of a ``$batch`` — carries ``Prefer: IdType="ImmutableId"``,
so a message keeps its id when it moves between folders (that id is our provider key).

Errors become the sync error types: 401 once → refresh the token and try again, twice →
``ProviderAuthError`` (with msal's ``invalid_grant`` the only "needs re-authentication");
403 → ``GraphForbidden``: permissions are not authentication — a delegate may lack one
folder, so it fails that folder or that batch part, never the account; 429 / 5xx / network →
``ProviderTemporaryError`` carrying Retry-After; 404 → ``GraphNotFound``; 410 →
``DeltaExpired``; anything else → ``GraphRequestError`` (permanent).

Concurrency: Exchange allows about 4 concurrent requests per mailbox — pushes and pulls of
the mailbox together, in every worker process — and runs a batch's parts about 4 at a time.
``MailboxSlots`` (Redis when configured) hands out those 4 slots: a single request takes
one, a ``$batch`` of n parts takes min(n, 4). A 429 without Retry-After (another client of
the mailbox was busy) is retried a few times with growing pauses before it is reported.
"""

from __future__ import annotations

import email.utils
import logging
import random
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from sync.errors import ProviderAuthError, ProviderPermanentError, ProviderTemporaryError, ProviderThrottled
from sync.providers.outlook.auth import GraphTokens

logger = logging.getLogger(__name__)

IMMUTABLE_ID = 'IdType="ImmutableId"'
MAX_BATCH = 20
TIMEOUT = (10, 120)  # connect, read (a large MIME download takes a while)
# Exchange's limit of concurrent requests per mailbox (all clients of the app together).
MAILBOX_CONCURRENCY = 4
# How long a slot is held at most: a crashed worker's slots free themselves after this.
SLOT_LEASE_SECONDS = 300
SLOT_WAIT_SECONDS = 120
REDIS_RETRY_SECONDS = 30
# A 429 without Retry-After: retried this many times, pausing ~0.5 s, 1 s, 2 s (jittered).
BUSY_RETRIES = 3
BUSY_PAUSE_SECONDS = 0.5
DOWNLOAD_CHUNK = 256 * 1024


class GraphRequestError(ProviderPermanentError):
    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GraphNotFound(GraphRequestError):
    """The message or folder is not there (any more)."""


class DeltaExpired(GraphRequestError):
    """410: the folder's delta state is gone; start the folder over."""


class GraphThrottled(ProviderThrottled):
    """429: the mailbox (or the app) is over a Graph limit; wait Retry-After if given."""


class GraphForbidden(GraphRequestError):
    """403: this mailbox, folder or message is not shared with the signed-in user. Not an
    authentication problem: only what was asked fails."""


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
    if status == 429:
        return GraphThrottled(f"Graph is busy ({detail})", retry_after=retry_after_seconds(retry_after))
    if status >= 500:
        return ProviderTemporaryError(
            f"Graph is busy ({detail})", retry_after=retry_after_seconds(retry_after)
        )
    if status == 401:
        return ProviderAuthError(f"Graph refused the sign-in ({detail}); reconnect the mailbox.")
    if status == 403:
        return GraphForbidden(f"Graph denied access ({detail})", status=status, code=code)
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


_SLOT_SCRIPT = """
local key, now, weight, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local used = 0
for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
  used = used + tonumber(string.match(member, '^(%d+):'))
end
if used + weight > limit then return 0 end
redis.call('ZADD', key, now + tonumber(ARGV[5]), weight .. ':' .. ARGV[4])
redis.call('EXPIRE', key, tonumber(ARGV[5]) + 5)
return 1
"""


class MailboxSlots:
    """At most ``MAILBOX_CONCURRENCY`` Graph requests in flight per mailbox, counted across
    every process through Redis (a sorted set of leases that expire, so a crash frees its
    slots), or within this process when no Redis is configured (the embedded demo)."""

    _local_lock = threading.Condition()
    _local_used: dict[str, int] = {}
    # After Redis failed, it is left alone for a while: every request would wait for its
    # connection retries otherwise.
    _redis_down_until = 0.0

    def __init__(self, key: str, limit: int = MAILBOX_CONCURRENCY) -> None:
        self.key = f"graph-slots:{key}"
        self.limit = limit
        self._redis = _redis_client()
        self._script = self._redis.register_script(_SLOT_SCRIPT) if self._redis is not None else None

    @contextmanager
    def hold(self, weight: int) -> Iterator[None]:
        weight = max(1, min(weight, self.limit))
        token = secrets.token_hex(8)
        shared = self._acquire_shared(weight, token)
        if not shared:
            self._acquire_local(weight)
        try:
            yield
        finally:
            if shared:
                self._release_shared(weight, token)
            else:
                self._release_local(weight)

    def _acquire_shared(self, weight: int, token: str) -> bool:
        """True once Redis granted the slots; False without a usable Redis (then only this
        process is counted: a Redis outage must not stop sync)."""
        if self._script is None or time.monotonic() < MailboxSlots._redis_down_until:
            return False
        deadline = time.monotonic() + SLOT_WAIT_SECONDS
        pause = 0.02
        while True:
            try:
                granted = self._script(
                    keys=[self.key], args=[time.time(), weight, self.limit, token, SLOT_LEASE_SECONDS]
                )
            except Exception as exc:  # redis-py's ConnectionError, TimeoutError, …
                logger.warning("Graph slots fall back to this process: Redis failed: %r", exc)
                MailboxSlots._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
                return False
            if granted:
                return True
            if time.monotonic() > deadline:
                raise ProviderTemporaryError("The mailbox is busy with other Graph requests.")
            time.sleep(pause)  # another worker holds the mailbox's slots: wait for one
            pause = min(pause * 2, 0.5)

    def _release_shared(self, weight: int, token: str) -> None:
        try:
            self._redis.zrem(self.key, f"{weight}:{token}")
        except Exception as exc:  # the lease expires by itself
            logger.warning("could not release Graph slots: %r", exc)

    def _acquire_local(self, weight: int) -> None:
        deadline = time.monotonic() + SLOT_WAIT_SECONDS
        with self._local_lock:
            while self._local_used.get(self.key, 0) + weight > self.limit:
                if not self._local_lock.wait(timeout=max(deadline - time.monotonic(), 0)):
                    raise ProviderTemporaryError("The mailbox is busy with other Graph requests.")
            self._local_used[self.key] = self._local_used.get(self.key, 0) + weight

    def _release_local(self, weight: int) -> None:
        with self._local_lock:
            self._local_used[self.key] = max(self._local_used.get(self.key, 0) - weight, 0)
            self._local_lock.notify_all()


def _busy(response: requests.Response) -> bool:
    """A 429 without Retry-After: another client of this mailbox was busy (MailboxConcurrency)."""
    return response.status_code == 429 and not response.headers.get("Retry-After")


def _pause(attempt: int) -> None:
    # Back off a little before asking again: ~0.5 s, 1 s, 2 s, jittered.
    time.sleep(BUSY_PAUSE_SECONDS * (2**attempt) * random.uniform(0.75, 1.25))


def _redis_client() -> Any:
    """The raw redis-py client behind Django's Redis cache, or None with another cache."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(write=True)


class GraphClient:
    """One mailbox's view of Graph (``/me`` or a shared mailbox's ``/users/{address}``)."""

    def __init__(
        self,
        tokens: GraphTokens,
        session: requests.Session,
        root: str,
        mailbox_path: str,
        *,
        limiter_key: str = "",
    ) -> None:
        self.tokens = tokens
        self.session = session
        self.root = root.rstrip("/")
        self.mailbox_path = mailbox_path
        self.requests_sent = 0
        self.slots = MailboxSlots(limiter_key or f"{self.root}{mailbox_path}")

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
        data: bytes | None = None,
        content_type: str = "",
        prefer: Sequence[str] = (),
        what: str = "",
        weight: int = 1,
        on_send: Callable[[], None] | None = None,
    ) -> requests.Response:
        """One request, its body read, holding ``weight`` of the mailbox's slots meanwhile.
        The body is ``json_body``, or ``data`` sent as ``content_type`` (MIME for sendMail).
        ``on_send`` runs right before the request goes out (after the token and the slot):
        a send records there that it handed the message over."""
        for busy in range(BUSY_RETRIES + 1):
            with self.slots.hold(weight):
                response = self._send(
                    method,
                    url,
                    params=params,
                    json_body=json_body,
                    data=data,
                    content_type=content_type,
                    prefer=prefer,
                    what=what,
                    on_send=on_send,
                )
                response.content  # noqa: B018 - read the body while the slot is held
            if not _busy(response) or busy == BUSY_RETRIES:
                break
            _pause(busy)
        if response.status_code >= 400:
            raise self._error(response, what or url)
        return response

    @contextmanager
    def stream(self, url: str, *, what: str = "") -> Iterator[requests.Response]:
        """A streamed GET (a message's MIME): the slot is held until the caller is done."""
        for busy in range(BUSY_RETRIES + 1):
            with self.slots.hold(1):
                response = self._send("GET", url, what=what, stream=True)
                if not _busy(response) or busy == BUSY_RETRIES:
                    try:
                        if response.status_code >= 400:
                            raise self._error(response, what or url)
                        yield response
                    finally:
                        response.close()
                    return
                response.close()
            _pause(busy)

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        data: bytes | None = None,
        content_type: str = "",
        prefer: Sequence[str] = (),
        what: str = "",
        stream: bool = False,
        on_send: Callable[[], None] | None = None,
    ) -> requests.Response:
        for attempt in range(2):
            token = self.tokens.access_token(force_refresh=attempt > 0)
            headers = {
                "Authorization": f"Bearer {token}",
                "Prefer": ", ".join([IMMUTABLE_ID, *prefer]),
                "Accept": "application/json",
            }
            if content_type:
                headers["Content-Type"] = content_type
            if on_send is not None:
                on_send()
            try:
                self.requests_sent += 1
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    data=data,
                    headers=headers,
                    timeout=TIMEOUT,
                    stream=stream,
                )
            except requests.RequestException as exc:
                raise ProviderTemporaryError(f"Graph is unreachable ({what or url}): {exc}") from exc
            # A 401 with a token msal still thought valid (revoked, clock skew): refresh once.
            if response.status_code == 401 and attempt == 0:
                response.close()
                continue
            break
        return response

    def put_upload(
        self, upload_url: str, data: bytes, *, start: int, total: int, what: str
    ) -> requests.Response:
        """One PUT of an attachment upload session: ``Content-Range`` and no Authorization
        header (the upload URL is the credential, and may be another host than Graph: our
        token never goes there)."""
        headers = {"Content-Range": f"bytes {start}-{start + len(data) - 1}/{total}"}
        try:
            self.requests_sent += 1
            response = self.session.request("PUT", upload_url, data=data, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise ProviderTemporaryError(f"Graph is unreachable ({what}): {exc}") from exc
        if response.status_code >= 400:
            raise self._error(response, what)
        return response

    @staticmethod
    def _error(response: requests.Response, what: str) -> Exception:
        try:
            body = response.json()
        except ValueError:
            body = None
        return error_for(response.status_code, body, response.headers.get("Retry-After"), what)

    def get_json(self, url: str, *, params: dict[str, str] | None = None, prefer: Sequence[str] = ()) -> Any:
        return self.request("GET", url, params=params, prefer=prefer).json()

    def batch(self, parts: Sequence[SubRequest]) -> dict[str, SubResponse]:
        """One ``$batch`` call of ≤ 20 parts; answers by part id (they come in any order)."""
        if not parts:
            return {}
        if len(parts) > MAX_BATCH:
            raise ValueError(f"a Graph batch holds at most {MAX_BATCH} requests, got {len(parts)}")
        payload = {"requests": [self._part(p) for p in parts]}
        # Graph runs up to 4 parts of a batch at once against the mailbox.
        response = self.request(
            "POST", f"{self.root}/$batch", json_body=payload, what="$batch", weight=len(parts)
        )
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
