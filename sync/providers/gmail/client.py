"""Talking to the Gmail API: the HTTP transport, calls and HTTP batches, typed errors.

Everything goes through the real google-api-python-client (static discovery, so no network
is needed to build the service) and google-auth (``auth.GmailAuth``). Errors come out as the
typed errors of ``sync.errors``, which decide what happens to a change or a sync:
429 / 403 rateLimitExceeded → ``GmailRateLimited`` (temporary, with Retry-After), 5xx →
temporary, ``invalid_grant`` / 401 after a refresh → the account needs to be reconnected,
404 → ``GmailNotFound``, any other 403 → ``GmailForbidden`` (that call only, not the account).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httplib2
import requests
from django.conf import settings
from google.auth.exceptions import RefreshError, TransportError
from google.auth.transport.requests import AuthorizedSession
from google.auth.transport.requests import Request as AuthRequest
from googleapiclient.discovery import build
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from inbox.models import MailAccount
from sync.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderPermanentError,
    ProviderTemporaryError,
    ProviderThrottled,
)
from sync.providers.gmail.auth import GmailAuth, refresh_error

logger = logging.getLogger(__name__)

HTTP_TIMEOUT_SECONDS = 60
# Bytes read at a time from an answer that is streamed (``GmailClient.stream``).
STREAM_CHUNK_BYTES = 64 * 1024
# Of an error answer that is streamed, this much is read for its reason.
ERROR_BODY_BYTES = 64 * 1024
# Google allows 100 calls per HTTP batch but advises at most 50 for Gmail: larger batches
# trip the per-user rate limit (250 quota units a second; a trash costs 5).
BATCH_LIMIT = 50
# Gmail's per-user limit is 250 quota units a second (a moving average: short bursts pass,
# 15,000 a minute). Each client (one mailbox's pull or push) keeps its calls at this pace
# after a first burst, leaving room for the mailbox's other clients: a first sync that runs
# faster than the quota only earns 429s and waits out their Retry-After. 0 = no pacing.
QUOTA_UNITS_PER_SECOND = 200.0
QUOTA_BURST_UNITS = 2500.0
# Gmail's published cost of each method, in quota units (each part of a batch counts);
# a method not listed costs DEFAULT_UNITS.
METHOD_UNITS = {
    "gmail.users.getProfile": 1,
    "gmail.users.labels.list": 1,
    "gmail.users.labels.get": 1,
    "gmail.users.history.list": 2,
    "gmail.users.messages.delete": 10,
    "gmail.users.messages.batchModify": 50,
    "gmail.users.messages.batchDelete": 50,
    "gmail.users.messages.insert": 25,
    "gmail.users.messages.import": 25,
    "gmail.users.messages.send": 100,
    "gmail.users.threads.get": 10,
    "gmail.users.threads.list": 10,
    "gmail.users.threads.modify": 10,
    "gmail.users.threads.trash": 10,
    "gmail.users.threads.untrash": 10,
}
DEFAULT_UNITS = 5
# 403 reasons that mean "slow down", not "you may not".
_RATE_REASONS = {
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "concurrentLimitExceeded",
    "quotaExceeded",
    "dailyLimitExceeded",
    "backendError",
}
# 403 reasons that mean the grant lacks Gmail access for the whole mailbox.
_AUTH_REASONS = {"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}


class GmailRateLimited(ProviderThrottled):
    """429, or 403 rateLimitExceeded / userRateLimitExceeded: slow down for the whole mailbox."""


class GmailServerError(ProviderTemporaryError):
    """5xx (or 408) for one call: Gmail could not do it now. For one message's ``messages.get``
    that may be that message, not the mailbox (the pull retries it on its own)."""


class GmailBatchInterrupted(ProviderTemporaryError):
    """A whole batch request failed for now after earlier batches of the same call went
    through: ``results`` holds their answers."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        results: dict[str, PartResult],
        throttled: bool = False,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.results = results
        self.throttled = throttled  # the batch request was throttled as a whole


class GmailForbidden(ProviderPermanentError):
    """A 403 that is not about quota or scopes: this call (one message) is refused, not the account."""


class GmailNotFound(ProviderPermanentError):
    """404: the message (or the history start point) does not exist any more."""


class GmailBadRequest(ProviderPermanentError):
    """400: Gmail refused the request as such (e.g. an id it does not know)."""


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_info(exc: HttpError) -> tuple[str, str]:
    """(first reason, message) from Google's JSON error body, as far as it has them."""
    try:
        body = json.loads(
            exc.content.decode("utf-8", "replace") if isinstance(exc.content, bytes) else exc.content
        )
        error = body.get("error", {})
        reasons = [e.get("reason", "") for e in error.get("errors", []) if isinstance(e, dict)]
        details = [d.get("reason", "") for d in error.get("details", []) if isinstance(d, dict)]
        reason = next((r for r in [*reasons, *details] if r), "") or error.get("status", "")
        return reason, str(error.get("message", ""))[:300]
    except (ValueError, AttributeError):
        return "", ""


def classify(exc: HttpError) -> ProviderError:
    status = int(exc.resp.status)
    reason, message = _error_info(exc)
    text = f"Gmail answered {status}" + (f" {reason}" if reason else "") + (f": {message}" if message else "")
    retry_after = retry_after_seconds(exc.resp.get("retry-after"))
    if status == 401:
        return ProviderAuthError(f"{text}. Reconnect the mailbox.")
    if status == 429 or (status == 403 and reason in _RATE_REASONS):
        return GmailRateLimited(text, retry_after=retry_after)
    if status == 408 or status >= 500:
        return GmailServerError(text, retry_after=retry_after)
    if status == 403 and reason in _AUTH_REASONS:
        return ProviderAuthError(f"{text}. Reconnect the mailbox and grant access to Gmail.")
    if status == 403:
        return GmailForbidden(text)
    if status == 404:
        return GmailNotFound(text)
    if status == 400:
        return GmailBadRequest(text)
    return ProviderPermanentError(text)


def units_of(request: HttpRequest) -> int:
    return METHOD_UNITS.get(str(getattr(request, "methodId", "") or ""), DEFAULT_UNITS)


class QuotaPacer:
    """A token bucket of quota units: ``burst`` at first, refilled at ``rate`` a second.
    ``spend`` waits (``sleep``) until the units are there. One per client, so per mailbox."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.burst = rate, burst
        self.clock, self.sleep = clock, sleep
        self.tokens = burst
        self.last = clock()
        self.spent = 0  # units asked for so far
        self.waited = 0.0  # seconds slept so far

    def spend(self, units: int) -> None:
        self.spent += units
        if self.rate <= 0:
            return
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate) - units
        self.last = now
        if self.tokens < 0:
            wait = -self.tokens / self.rate
            self.sleep(wait)
            self.waited += wait
            self.tokens, self.last = 0.0, self.clock()


@dataclass
class PartResult:
    """One call of an HTTP batch: its response, or the typed error it ended with."""

    response: dict[str, Any] | None = None
    error: ProviderError | None = None


class GmailClient:
    def __init__(self, account: MailAccount) -> None:
        self.account = account
        # Our own transport: a timeout, and no proxy picked up from the environment (the
        # library default), so a stray HTTP_PROXY cannot divert or hang mailbox traffic.
        self._raw_http = httplib2.Http(timeout=HTTP_TIMEOUT_SECONDS, proxy_info=None)
        # A resumable upload's 308 means "go on", not a redirect (the library's own
        # build_http() does the same).
        self._raw_http.redirect_codes = self._raw_http.redirect_codes - {308}
        self.auth = GmailAuth(account, self._raw_http)
        self.http = self.auth.authorized_http()
        endpoint = settings.GMAIL_API_ENDPOINT.rstrip("/") + "/"
        self.service = build(
            "gmail",
            "v1",
            http=self.http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": endpoint},
        )
        # The service's own new_batch_http_request() posts to the discovery document's
        # rootUrl (https://gmail.googleapis.com/batch) even with a custom api_endpoint, so
        # the Gmail batch URI is built from our endpoint instead.
        self.batch_uri = endpoint + "batch/gmail/v1"
        self._endpoint_scheme = urllib.parse.urlsplit(endpoint).scheme
        self._users: Any = None
        self._messages: Any = None
        self.pacer = QuotaPacer(QUOTA_UNITS_PER_SECOND, QUOTA_BURST_UNITS)

    def upload(self, request: HttpRequest) -> HttpRequest:
        """A media-upload request, addressed to our endpoint: the library moves the upload
        URL to the endpoint's host but keeps the discovery document's https (an http
        endpoint, as in tests, would get https)."""
        parts = urllib.parse.urlsplit(request.uri)
        if parts.scheme != self._endpoint_scheme:
            request.uri = urllib.parse.urlunsplit(parts._replace(scheme=self._endpoint_scheme))
        return request

    @property
    def users(self) -> Any:
        """The ``users`` resource, built once per client: the discovery library builds every
        method of a resource each time it is asked for (milliseconds of schema work), which
        was most of a first sync's time when done for every message."""
        if self._users is None:
            self._users = self.service.users()
        return self._users

    @property
    def messages(self) -> Any:
        """``users().messages()``, built once per client (see ``users``)."""
        if self._messages is None:
            self._messages = self.users.messages()
        return self._messages

    # --- tokens (kept here for callers that only hold the client) ------------------------
    def ensure_token(self) -> None:
        self.auth.ensure_token()

    def persist_token(self) -> None:
        self.auth.persist_token()

    # --- calls --------------------------------------------------------------------------
    def call(self, request: HttpRequest) -> dict[str, Any]:
        """Execute one request; typed errors out."""
        return self._execute(request) or {}  # type: ignore[no-any-return]

    def stream(self, request: HttpRequest) -> Iterator[bytes]:
        """Send one request the discovery service built (its method, URL — so the
        configured endpoint — and headers) and hand on its answer's body as it arrives, in
        ``STREAM_CHUNK_BYTES`` chunks: for an answer too big to hold, which httplib2 (the
        service's transport) would read whole. It goes through google-auth's requests
        transport with the same credentials (refreshed as for ``call``, once more on a 401),
        no proxy or CA bundle from the environment (as ``httplib2.Http(proxy_info=None)``),
        trusting the CA certificates our httplib2 transport trusts. Errors are typed as for
        ``call``; one in the middle of the body is temporary."""
        self.pacer.spend(units_of(request))
        self.ensure_token()
        try:
            with self._streaming_session() as session:
                response = session.request(
                    request.method,
                    request.uri,
                    headers=dict(request.headers),
                    stream=True,
                    timeout=HTTP_TIMEOUT_SECONDS,
                )
                with response:
                    if response.status_code >= 300:
                        content = response.raw.read(ERROR_BODY_BYTES, decode_content=True) or b""
                        answer = httplib2.Response({**response.headers, "status": str(response.status_code)})
                        raise classify(HttpError(answer, content, uri=request.uri))
                    yield from response.iter_content(STREAM_CHUNK_BYTES)
        except RefreshError as exc:
            raise refresh_error(exc) from exc
        except (requests.RequestException, TransportError, OSError) as exc:
            raise ProviderTemporaryError(f"Could not reach Gmail: {exc}") from exc
        finally:
            self.persist_token()

    @contextmanager
    def _streaming_session(self) -> Iterator[AuthorizedSession]:
        trusted = self._raw_http.ca_certs  # httplib2's CA file (HTTPLIB2_CA_CERTS, else certifi)
        with requests.Session() as refresher:
            refresher.trust_env = False
            refresher.verify = trusted
            with AuthorizedSession(self.auth.credentials, auth_request=AuthRequest(refresher)) as session:
                session.trust_env = False
                session.verify = trusted
                yield session

    def _execute(self, request: HttpRequest) -> Any:
        self.pacer.spend(units_of(request))
        self.ensure_token()
        try:
            return request.execute()
        except HttpError as exc:
            raise classify(exc) from exc
        except RefreshError as exc:
            raise refresh_error(exc) from exc
        except (TimeoutError, TransportError, httplib2.HttpLib2Error, OSError) as exc:
            raise ProviderTemporaryError(f"Could not reach Gmail: {exc}") from exc
        finally:
            self.persist_token()

    def batch(self, requests: Sequence[tuple[str, HttpRequest]]) -> dict[str, PartResult]:
        """Run calls in HTTP batches of ``BATCH_LIMIT``; each key gets its result.

        After a batch in which Gmail said "slow down" (``GmailRateLimited``), the remaining
        calls are not sent: they get that same error, so the caller retries them after
        Retry-After. Any other failed part (a 5xx, a 403 for one message) concerns that call
        only. A failure of a whole batch request raises.
        """
        results: dict[str, PartResult] = {}
        throttled: GmailRateLimited | None = None
        for start in range(0, len(requests), BATCH_LIMIT):
            chunk = requests[start : start + BATCH_LIMIT]
            if throttled is not None:
                for key, _ in chunk:
                    results[key] = PartResult(error=throttled)
                continue
            try:
                self._run_batch(chunk, results)
            except ProviderTemporaryError as exc:
                # The batches before this one were applied at Gmail: say which, so a push
                # keeps that progress (a pull just tries again later).
                raise GmailBatchInterrupted(
                    str(exc), retry_after=exc.retry_after, results=results, throttled=exc.throttled
                ) from exc
            slow_down = [
                error for key, _ in chunk if isinstance(error := results[key].error, GmailRateLimited)
            ]
            if slow_down:
                throttled = max(slow_down, key=lambda e: e.retry_after or 0)
        return results

    def _run_batch(self, chunk: Sequence[tuple[str, HttpRequest]], results: dict[str, PartResult]) -> None:
        def collect(request_id: str, response: Any, exception: Exception | None) -> None:
            if exception is None:
                results[request_id] = PartResult(response=response or {})
            elif isinstance(exception, HttpError):
                results[request_id] = PartResult(error=classify(exception))
            else:
                results[request_id] = PartResult(error=ProviderPermanentError(str(exception)))

        batch = BatchHttpRequest(callback=collect, batch_uri=self.batch_uri)
        for key, request in chunk:
            batch.add(request, request_id=key)
        self.pacer.spend(sum(units_of(request) for _key, request in chunk))
        # A valid token up front: otherwise the library refreshes through a transport of its
        # own (no timeout, proxies from the environment).
        self.ensure_token()
        try:
            batch.execute(http=self.http)
        except BatchError as exc:
            raise ProviderTemporaryError(f"Gmail sent a batch answer that could not be read: {exc}") from exc
        except HttpError as exc:
            raise classify(exc) from exc
        except RefreshError as exc:
            raise refresh_error(exc) from exc
        except (TimeoutError, TransportError, httplib2.HttpLib2Error, OSError) as exc:
            raise ProviderTemporaryError(f"Could not reach Gmail: {exc}") from exc
        finally:
            self.persist_token()
        for key, _ in chunk:
            # A part the answer left out is retried, never taken as done.
            results.setdefault(
                key, PartResult(error=ProviderTemporaryError("Gmail left this call unanswered"))
            )
