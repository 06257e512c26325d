"""A stateful fake of the Gmail API and Google's OAuth token endpoint on 127.0.0.1.

Driven by the real google-api-python-client and google-auth: it speaks the same URLs,
JSON bodies, error shapes and ``multipart/mixed`` batch format as Google, so the adapter
under test runs unpatched. It keeps what matters for sync and push:

* mailboxes with messages (raw RFC 5322 bytes, labels, threads, internalDate),
* history records with increasing (non-contiguous) ids, expirable on demand (→ 404),
* ``users.getProfile``, ``messages.list`` (labelIds, ``q=after:``/``before:``, paging),
  ``messages.get`` (raw / minimal / metadata), ``messages.batchModify`` (≤ 1000 ids),
  ``messages.modify``, ``messages.trash`` / ``untrash``, ``history.list`` (paging,
  labelId, historyTypes), and the HTTP batch endpoint (≤ 100 parts),
* ``messages.get`` formats raw / minimal / metadata / full (text parts inline, attachments
  as ``attachmentId`` only, as Google does), ``sizeEstimate`` on every format,
* ``threads.get`` / ``threads.modify``, partial responses (``fields=messages/id,...``),
* the token endpoint (refresh_token grant; ``invalid_grant`` once revoked, or once a
  refresh token is older than ``refresh_token_max_age`` — the 7-day tokens Google gives an
  OAuth app in "Testing" status),
* quota errors on demand (429, 403 rateLimitExceeded, 5xx, with Retry-After), for the next
  N calls, optionally only ``after`` M calls went through (a long push failing part-way),
* per-message persistent faults (``break_message``): ``messages.get`` of that id fails on
  every call (outer request or batch part, some formats only) until ``mend_message``,
* big messages (``MessageFactory.make_large``: 40 MB of attachment is no problem),
* ``messages.attachments.get`` (the part base64url in one JSON answer), its bytes
  rewritable by a test (``attachment_answer_edit``: key order, corrupt data) and its
  second half held back until the test says (``attachment_hold``: proof of streaming),
* drafts, chats, spam and category tabs as Gmail records them (DRAFT / CHAT / SPAM /
  CATEGORY_* labels, in history too),
* a log of every call (outer requests and batch parts) so tests assert request counts.

Test code changes a mailbox as a Gmail user would through ``Mailbox`` methods
(``deliver``, ``archive``, ``trash``, ``delete_forever``, ``add_labels``...).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.ports import http_server

MAX_BATCH_PARTS = 100
MAX_BATCH_MODIFY_IDS = 1000
SYSTEM_LABELS = {"INBOX", "SENT", "TRASH", "SPAM", "DRAFT", "CHAT", "UNREAD", "STARRED", "IMPORTANT"}
CATEGORY_LABELS = {
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
}

Response = tuple[int, dict[str, str], bytes]


class AnswerDropped(Exception):
    """Raised inside a method: the connection is closed without any answer."""


class ApiError(Exception):
    """An error response in Google's JSON error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str = "",
        retry_after: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or _default_reason(status)
        self.retry_after = retry_after
        self.body = body

    def response(self) -> Response:
        body = self.body or {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{"message": self.message, "domain": _domain(self.reason), "reason": self.reason}],
                "status": _grpc_status(self.status),
            }
        }
        headers = {"Content-Type": "application/json; charset=UTF-8"}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        return self.status, headers, json.dumps(body).encode()


def _default_reason(status: int) -> str:
    return {
        400: "invalidArgument",
        401: "authError",
        403: "forbidden",
        404: "notFound",
        429: "rateLimitExceeded",
    }.get(status, "backendError")


def _domain(reason: str) -> str:
    return "usageLimits" if "Limit" in reason or reason == "quotaExceeded" else "global"


def _grpc_status(status: int) -> str:
    return {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        503: "UNAVAILABLE",
    }.get(status, "INTERNAL")


@dataclass
class FakeMessage:
    id: str
    thread_id: str
    labels: set[str]
    raw: bytes
    internal_date: int  # milliseconds since the epoch, as Gmail reports it
    history_id: int
    message_id: str = ""
    _payload: dict[str, Any] | None = None  # the parsed MIME tree, built once (big mail is slow)

    def minimal(self) -> dict[str, Any]:
        return {"id": self.id, "threadId": self.thread_id, "labelIds": sorted(self.labels)}

    def resource(self, fmt: str, metadata_headers: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            **self.minimal(),
            "historyId": str(self.history_id),
            "internalDate": str(self.internal_date),
            "sizeEstimate": len(self.raw),
            "snippet": "",
        }
        if fmt == "raw":
            body["raw"] = base64.urlsafe_b64encode(self.raw).decode()
        elif fmt == "full":
            body["payload"] = self.payload()
        elif fmt == "metadata":
            wanted = {h.lower() for h in metadata_headers or []}
            top = self.payload()
            headers = [h for h in top["headers"] if not wanted or h["name"].lower() in wanted]
            body["payload"] = {"partId": "", "mimeType": top["mimeType"], "headers": headers}
        return body

    def payload(self) -> dict[str, Any]:
        """Gmail's ``format=full`` tree: headers of every part, text bodies inline (base64url),
        the body of every attachment only as an ``attachmentId`` and its size."""
        if self._payload is None:
            parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(self.raw)
            self._payload = _payload_part(parsed, "", self.id)
        return self._payload


def _payload_part(part: email.message.Message, part_id: str, gmail_id: str) -> dict[str, Any]:
    headers = [{"name": k, "value": str(v)} for k, v in part.items()]
    out: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part.get_filename() or "",
        "headers": headers,
    }
    if part.is_multipart():
        out["body"] = {"size": 0}
        out["parts"] = [
            _payload_part(child, f"{part_id}.{n}" if part_id else str(n), gmail_id)
            for n, child in enumerate(part.get_payload())
        ]
        return out
    data = part.get_payload(decode=True) or b""
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    inline_text = (
        part.get_content_maintype() == "text" and not out["filename"] and disposition != "attachment"
    )
    if inline_text:
        out["body"] = {"size": len(data), "data": base64.urlsafe_b64encode(data).decode()}
    else:
        out["body"] = {"size": len(data), "attachmentId": f"att-{gmail_id}-{part_id or 0}"}
    return out


@dataclass
class Fault:
    """Answer the next ``times`` calls to ``endpoint`` with an error instead (once ``after``
    calls to it went through)."""

    endpoint: str
    status: int
    times: int
    retry_after: str | None
    reason: str
    in_batch: bool | None  # None: outer requests and batch parts alike
    after: int = 0


SIMPLE_SEND_LIMIT = 5 * 1024 * 1024
UPLOAD_SEND_LIMIT = 35 * 1024 * 1024
UPLOAD_PATH = "/upload/gmail/v1/users/me/messages/send"


@dataclass
class UploadSession:
    """One resumable upload of ``users.messages.send``: the metadata of its first request,
    the bytes received so far, and the answer once complete (a PUT after that gets the same
    answer again: the message is sent once)."""

    mailbox: str
    metadata: dict[str, Any]
    total: int | None
    data: bytearray = field(default_factory=bytearray)
    answer: Response | None = None


@dataclass
class BrokenMessage:
    """``messages.get`` of one id fails every time (Gmail's backend cannot read that message)."""

    status: int
    reason: str
    in_batch: bool | None = None  # None: outer requests and batch parts alike
    formats: frozenset[str] | None = None  # None: every format


@dataclass
class Call:
    endpoint: str
    method: str
    path: str
    status: int
    in_batch: bool
    mailbox: str = ""
    ids: int = 0  # how many message ids a batchModify carried, or parts a batch carried
    params: dict[str, list[str]] = field(default_factory=dict)  # the query string


class Mailbox:
    """One Gmail user's mailbox; methods are what the user does in Gmail itself."""

    def __init__(self, server: FakeGmail, address: str, refresh_token: str) -> None:
        self.server = server
        self.address = address
        self.refresh_token = refresh_token
        self.revoked = False
        self.messages: dict[str, FakeMessage] = {}
        self.history: list[dict[str, Any]] = []
        self.history_id = 1000 + len(server.mailboxes) * 100_000
        self.oldest_history_id = self.history_id
        self.refresh_token_issued_at = time.time()
        # Ids messages.list leaves out although they exist (Gmail's listings come from a
        # search index that can lag): a listing is never proof that a message is gone.
        self.unlisted: set[str] = set()
        # What users.messages.send was given (raw without Bcc, threadId, envelope).
        self.sent_log: list[dict[str, Any]] = []
        # The next send is carried out, then answered 503 (its answer is lost).
        self.lose_send_answer = False
        # The next send is carried out, then its connection is closed without an answer.
        self.drop_send_answer = False

    # --- what the Gmail user (or Gmail itself) does -----------------------------------
    def deliver(
        self,
        raw: bytes | str,
        *,
        labels: Iterable[str] = ("INBOX", "UNREAD"),
        thread_id: str | None = None,
        when: datetime | None = None,
    ) -> str:
        """A message arrives (or is sent, with labels=("SENT",)): a messagesAdded record."""
        data = raw.encode() if isinstance(raw, str) else raw
        headers = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data, headersonly=True)
        message_id = (headers.get("Message-ID") or "").strip()
        if when is None:
            try:
                when = parsedate_to_datetime(headers.get("Date", ""))
            except (TypeError, ValueError):
                when = datetime.now(UTC)
        with self.server.lock:
            gmail_id = self.server.new_id()
            thread = thread_id or self._thread_for(headers) or gmail_id
            message = FakeMessage(
                id=gmail_id,
                thread_id=thread,
                labels=set(labels),
                raw=data,
                internal_date=int(when.timestamp() * 1000),
                history_id=0,
                message_id=message_id,
            )
            self.messages[gmail_id] = message
            self._record(message, "messagesAdded")
        return gmail_id

    def _thread_for(self, headers: Any) -> str | None:
        related = set(re.findall(r"<[^>]+>", " ".join(headers.get_all("References", []) or [])))
        related |= set(re.findall(r"<[^>]+>", headers.get("In-Reply-To", "") or ""))
        for message in self.messages.values():
            if message.message_id and message.message_id in related:
                return message.thread_id
        return None

    def add_labels(self, gmail_id: str, *labels: str) -> None:
        self.modify(gmail_id, add=labels)

    def remove_labels(self, gmail_id: str, *labels: str) -> None:
        self.modify(gmail_id, remove=labels)

    def archive(self, gmail_id: str) -> None:
        """Gmail's Archive button: the INBOX label goes, nothing else."""
        self.modify(gmail_id, remove=["INBOX"])

    def trash(self, gmail_id: str) -> None:
        """Gmail's Delete button: TRASH added and INBOX removed in one history record."""
        self.modify(gmail_id, add=["TRASH"], remove=["INBOX"])

    def untrash(self, gmail_id: str) -> None:
        self.modify(gmail_id, remove=["TRASH"], add=["INBOX"])

    def age_refresh_token(self, seconds: float) -> None:
        """Pretend the refresh token was issued ``seconds`` earlier (see refresh_token_max_age)."""
        with self.server.lock:
            self.refresh_token_issued_at -= seconds

    def delete_forever(self, gmail_id: str) -> None:
        """Emptying the Trash (or an API delete): a messagesDeleted record."""
        with self.server.lock:
            message = self.messages.pop(gmail_id)
            self._record(message, "messagesDeleted")

    def expire_history(self) -> None:
        """Gmail keeps history for about a week: older startHistoryIds now answer 404."""
        with self.server.lock:
            self.history_id += 7
            self.oldest_history_id = self.history_id
            self.history = []

    def modify(self, gmail_id: str, *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> bool:
        with self.server.lock:
            return self._modify(self.messages[gmail_id], set(add), set(remove))

    def labels_of(self, gmail_id: str) -> set[str]:
        return set(self.messages[gmail_id].labels)

    def ids_with(self, label: str) -> set[str]:
        return {m.id for m in self.messages.values() if label in m.labels}

    # --- internals (server lock held) -------------------------------------------------
    def _modify(self, message: FakeMessage, add: set[str], remove: set[str]) -> bool:
        added = add - message.labels
        removed = (remove & message.labels) - add
        if not added and not removed:
            return False  # Gmail writes no history for a change that changes nothing
        message.labels |= added
        message.labels -= removed
        self.history_id += self.server.history_step
        message.history_id = self.history_id
        record: dict[str, Any] = {"id": str(self.history_id), "messages": [_short(message)]}
        if added:
            record["labelsAdded"] = [{"message": message.minimal(), "labelIds": sorted(added)}]
        if removed:
            record["labelsRemoved"] = [{"message": message.minimal(), "labelIds": sorted(removed)}]
        self.history.append(record)
        return True

    def _record(self, message: FakeMessage, kind: str) -> None:
        self.history_id += self.server.history_step
        message.history_id = self.history_id
        item = {"message": message.minimal() if kind == "messagesAdded" else _short(message)}
        self.history.append({"id": str(self.history_id), "messages": [_short(message)], kind: [item]})


def _short(message: FakeMessage) -> dict[str, str]:
    return {"id": message.id, "threadId": message.thread_id}


class FakeGmail:
    """The server: start() listens on a port the kernel picks (tests/ports.py); reset() between tests."""

    client_id = "fake-client-id.apps.googleusercontent.com"
    client_secret = "fake-client-secret"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        self.access_tokens: dict[str, tuple[str, float]] = {}  # token -> (address, expires at)
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        self.token_lifetime = 3599
        self.history_step = 7  # real history ids grow by uneven steps; never by exactly one
        # Gmail may answer with fewer results than maxResults; lower this to make paging show.
        self.page_size = 500
        # Google ends the refresh tokens of an OAuth app in "Testing" status after 7 days;
        # None: they live until revoked (a published app).
        self.refresh_token_max_age: float | None = None
        self.broken: dict[str, BrokenMessage] = {}
        # messages.attachments.get: the answer's JSON bytes as a test rewrites them (key
        # order, a corrupt data field), and a hold: the first half of the next answer is sent,
        # the rest once the test sets the event (or after ``attachment_hold_seconds``, which
        # ``attachment_hold_expired`` then records).
        self.attachment_answer_edit: Callable[[bytes], bytes] | None = None
        self.attachment_hold: threading.Event | None = None
        self.attachment_hold_seconds = 30.0
        self.attachment_hold_expired = False
        # Resumable uploads of users.messages.send, by upload_id.
        self.uploads: dict[str, UploadSession] = {}
        # A send as JSON with ``raw`` is a "simple" request: Google refuses a body above 5 MB
        # (media upload, /upload/..., takes up to 35 MB).
        self.simple_send_limit = SIMPLE_SEND_LIMIT
        self.upload_send_limit = UPLOAD_SEND_LIMIT
        self._ids = itertools.count(0x18F0000000000000 + 0x10000)
        self._tokens = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> FakeGmail:
        self._httpd = http_server(_handler_for(self), ThreadingHTTPServer)
        self._httpd.daemon_threads = True
        # stop()'s shutdown() waits for serve_forever's next poll (0.5 s by default).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-gmail", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.mailboxes.clear()
            self.access_tokens.clear()
            self.faults.clear()
            self.calls.clear()
            self.token_lifetime = 3599
            self.page_size = 500
            self.refresh_token_max_age = None
            self.broken.clear()
            self.attachment_answer_edit = None
            self.attachment_hold = None
            self.attachment_hold_expired = False
            self.uploads.clear()
            self.simple_send_limit = SIMPLE_SEND_LIMIT
            self.upload_send_limit = UPLOAD_SEND_LIMIT

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def api_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def token_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    # --- test controls ----------------------------------------------------------------
    def add_mailbox(self, address: str) -> Mailbox:
        with self.lock:
            mailbox = Mailbox(self, address, refresh_token=f"1//fake-refresh-{address}")
            self.mailboxes[address] = mailbox
            return mailbox

    def revoke(self, address: str) -> None:
        """The user removed our app's access: refresh answers invalid_grant, tokens die."""
        with self.lock:
            self.mailboxes[address].revoked = True
            for token, (owner, _) in list(self.access_tokens.items()):
                if owner == address:
                    del self.access_tokens[token]

    def regrant(self, address: str) -> str:
        """The user connects our app again: a new refresh token (the old one stays dead)."""
        with self.lock:
            mailbox = self.mailboxes[address]
            mailbox.revoked = False
            mailbox.refresh_token = f"1//fake-refresh-{address}-{next(self._tokens)}"
            mailbox.refresh_token_issued_at = time.time()
            return mailbox.refresh_token

    def fail(
        self,
        endpoint: str,
        status: int = 429,
        *,
        times: int = 1,
        retry_after: str | int | None = None,
        reason: str = "",
        in_batch: bool | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next ``times`` calls to ``endpoint`` (e.g. "messages.batchModify",
        "messages.trash", "messages.get", "history.list", "batch", "token") with an error,
        once ``after`` calls to it went through."""
        with self.lock:
            self.faults.append(
                Fault(
                    endpoint,
                    status,
                    times,
                    None if retry_after is None else str(retry_after),
                    reason or _default_reason(status),
                    in_batch,
                    after,
                )
            )

    def break_message(
        self,
        gmail_id: str,
        status: int = 500,
        *,
        reason: str = "",
        in_batch: bool | None = None,
        formats: Iterable[str] | None = None,
    ) -> None:
        """Every ``messages.get`` of ``gmail_id`` fails (in batches only, outside them only,
        or both; for some formats or all) until ``mend_message``."""
        with self.lock:
            self.broken[gmail_id] = BrokenMessage(
                status,
                reason or _default_reason(status),
                in_batch,
                None if formats is None else frozenset(formats),
            )

    def mend_message(self, gmail_id: str) -> None:
        with self.lock:
            self.broken.pop(gmail_id, None)

    def gets_of(self, gmail_id: str, *, fmt: str | None = None, status: int | None = None) -> list[Call]:
        """The ``messages.get`` calls for one id (optionally of one format / status)."""
        with self.lock:
            return [
                c
                for c in self.calls
                if c.endpoint == "messages.get"
                and c.path.endswith("/" + gmail_id)
                and (fmt is None or (c.params.get("format") or ["full"])[0] == fmt)
                and (status is None or c.status == status)
            ]

    def count(self, endpoint: str, *, status: int | None = None, in_batch: bool | None = None) -> int:
        with self.lock:
            return sum(
                1
                for c in self.calls
                if c.endpoint == endpoint
                and (status is None or c.status == status)
                and (in_batch is None or c.in_batch == in_batch)
            )

    def calls_to(self, endpoint: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.endpoint == endpoint]

    def new_id(self) -> str:
        return f"{next(self._ids):016x}"

    # --- request handling ---------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        parsed = urllib.parse.urlsplit(target)
        path = parsed.path
        query = urllib.parse.parse_qs(parsed.query)
        if path == "/token" and method == "POST":
            return self._token(body)
        if method == "POST" and path in ("/batch", "/batch/gmail/v1"):
            return self._batch(path, headers, body)
        if path == UPLOAD_PATH:
            return self._upload(method, path, query, headers, body)
        return self._api(method, path, query, headers, body, in_batch=False)

    def _log(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def _take_fault(self, endpoint: str, in_batch: bool) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.endpoint == endpoint and fault.in_batch in (None, in_batch) and fault.times > 0:
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _fault_response(self, fault: Fault) -> Response:
        if fault.endpoint == "token":
            return _json(fault.status, {"error": "temporarily_unavailable"}, fault.retry_after)
        return ApiError(
            fault.status, f"Fake fault: {fault.reason}", reason=fault.reason, retry_after=fault.retry_after
        ).response()

    def _token(self, body: bytes) -> Response:
        form = urllib.parse.parse_qs(body.decode())
        fault = self._take_fault("token", False)
        if fault is not None:
            response = self._fault_response(fault)
            self._log(Call("token", "POST", "/token", response[0], False))
            return response
        status, payload = self._token_answer(form)
        self._log(Call("token", "POST", "/token", status, False))
        return _json(status, payload)

    def _token_answer(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        if one("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        if one("client_id") != self.client_id or one("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        with self.lock:
            mailbox = next(
                (m for m in self.mailboxes.values() if m.refresh_token == one("refresh_token")), None
            )
            expired = (
                mailbox is not None
                and self.refresh_token_max_age is not None
                and time.time() - mailbox.refresh_token_issued_at > self.refresh_token_max_age
            )
            if mailbox is None or mailbox.revoked or expired:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                }
            token = f"ya29.fake-{next(self._tokens)}"
            self.access_tokens[token] = (mailbox.address, time.time() + self.token_lifetime)
        return 200, {
            "access_token": token,
            "expires_in": self.token_lifetime,
            "scope": "https://www.googleapis.com/auth/gmail.modify",
            "token_type": "Bearer",
        }

    def _mailbox_for(self, headers: dict[str, str]) -> Mailbox:
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        with self.lock:
            owner = self.access_tokens.get(token)
            if owner is None or owner[1] < time.time():
                raise ApiError(401, "Request had invalid authentication credentials.", reason="authError")
            return self.mailboxes[owner[0]]

    def _batch(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        fault = self._take_fault("batch", False)
        if fault is not None:
            response = self._fault_response(fault)
            self._log(Call("batch", "POST", path, response[0], False))
            return response
        content_type = headers.get("content-type", "")
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        if not message.is_multipart():
            self._log(Call("batch", "POST", path, 400, False))
            return ApiError(400, "Batch body is not multipart/mixed.").response()
        parts = message.get_payload()
        if len(parts) > MAX_BATCH_PARTS:
            self._log(Call("batch", "POST", path, 400, False, ids=len(parts)))
            return ApiError(400, f"Too many requests in batch: {len(parts)} > {MAX_BATCH_PARTS}.").response()
        self._log(Call("batch", "POST", path, 200, False, ids=len(parts)))
        boundary = f"batch_fake_{next(self._tokens)}"
        out = []
        for part in parts:
            content_id = part["Content-ID"] or ""
            status, part_headers, part_body = self._batch_part(part.get_payload(), headers)
            inner_headers = "".join(f"{k}: {v}\r\n" for k, v in part_headers.items())
            out.append(
                f"--{boundary}\r\nContent-Type: application/http\r\n"
                f"Content-ID: <response-{content_id.strip('<>')}>\r\n\r\n"
                f"HTTP/1.1 {status} {_reason_phrase(status)}\r\n{inner_headers}"
                f"Content-Length: {len(part_body)}\r\n\r\n{part_body.decode()}\r\n"
            )
        text = "".join(out) + f"--{boundary}--\r\n"
        return 200, {"Content-Type": f"multipart/mixed; boundary={boundary}"}, text.encode()

    def _batch_part(self, payload: str, outer_headers: dict[str, str]) -> Response:
        request_line, rest = payload.split("\n", 1)
        method, target, _ = request_line.strip().split(" ", 2)
        inner = email.parser.Parser(policy=email.policy.compat32).parsestr(rest)
        headers = {k.lower(): v for k, v in inner.items()}
        if "authorization" not in headers and "authorization" in outer_headers:
            headers["authorization"] = outer_headers["authorization"]
        part_body = inner.get_payload()
        parsed = urllib.parse.urlsplit(target)
        return self._api(
            method,
            parsed.path,
            urllib.parse.parse_qs(parsed.query),
            headers,
            (part_body or "").encode() if isinstance(part_body, str) else b"",
            in_batch=True,
        )

    def _api(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        *,
        in_batch: bool,
    ) -> Response:
        endpoint, args = _route(method, path)
        call = Call(endpoint, method, path, 0, in_batch, params=query)
        try:
            if endpoint == "unknown":
                raise ApiError(404, f"No such method: {method} {path}")
            mailbox = self._mailbox_for(headers)
            call.mailbox = mailbox.address
            fault = self._take_fault(endpoint, in_batch)
            if fault is not None:
                response = self._fault_response(fault)
            else:
                if endpoint == "messages.send" and len(body) > self.simple_send_limit:
                    raise ApiError(
                        413,
                        f"Request payload size exceeds the limit: {self.simple_send_limit} bytes.",
                        reason="uploadTooLarge",
                    )
                payload = json.loads(body) if body.strip() else {}
                if endpoint == "messages.batchModify":
                    call.ids = len(payload.get("ids") or [])
                method_impl = getattr(self, "_" + endpoint.replace(".", "_"))
                extra = {"in_batch": in_batch} if endpoint == "messages.get" else {}
                with self.lock:
                    response = method_impl(mailbox, query, payload, *args, **extra)
                if query.get("fields") and response[0] == 200:
                    response = _partial(response, query["fields"][0])
        except ApiError as exc:
            response = exc.response()
        call.status = response[0]
        self._log(call)
        return response

    # --- Gmail methods (lock held) ----------------------------------------------------
    def _profile(self, mailbox: Mailbox, query: dict[str, list[str]], payload: dict[str, Any]) -> Response:
        return _json(
            200,
            {
                "emailAddress": mailbox.address,
                "messagesTotal": len(mailbox.messages),
                "threadsTotal": len({m.thread_id for m in mailbox.messages.values()}),
                "historyId": str(mailbox.history_id),
            },
        )

    def _messages_list(
        self, mailbox: Mailbox, query: dict[str, list[str]], payload: dict[str, Any]
    ) -> Response:
        labels = set(query.get("labelIds", []))
        include_spam_trash = (query.get("includeSpamTrash") or ["false"])[0] == "true"
        after, before = _parse_q((query.get("q") or [""])[0])
        msgid = _rfc822msgid((query.get("q") or [""])[0])
        max_results = min(int((query.get("maxResults") or ["100"])[0]), 500, self.page_size)
        offset = int((query.get("pageToken") or ["0"])[0])
        matches = [
            m
            for m in mailbox.messages.values()
            if labels <= m.labels
            and (include_spam_trash or not ({"TRASH", "SPAM"} & m.labels))
            and (after is None or m.internal_date // 1000 > after)
            and (before is None or m.internal_date // 1000 < before)
            and m.id not in mailbox.unlisted
            and (msgid is None or m.message_id == msgid)
        ]
        matches.sort(key=lambda m: (m.internal_date, m.id), reverse=True)  # newest first, like Gmail
        page = matches[offset : offset + max_results]
        body: dict[str, Any] = {"resultSizeEstimate": len(matches)}
        if page:
            body["messages"] = [_short(m) for m in page]
        if offset + max_results < len(matches):
            body["nextPageToken"] = str(offset + max_results)
        return _json(200, body)

    def _messages_send(
        self, mailbox: Mailbox, query: dict[str, list[str]], payload: dict[str, Any]
    ) -> Response:
        """``users.messages.send`` as documented: ``raw`` is the whole RFC 2822 message,
        base64url; From must be the user (or an alias); at least one recipient header; Bcc
        is read and stripped. ``threadId`` puts it in that thread only when the thread
        exists, the message answers one of its messages (In-Reply-To / References) and the
        Subject matches — otherwise Gmail starts a new thread, and so does this fake. The
        message is filed with the SENT label (a messagesAdded record) and delivered to every
        recipient who is a mailbox of this server."""
        raw_text = payload.get("raw")
        if not isinstance(raw_text, str) or not raw_text:
            raise ApiError(
                400, "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
            )
        try:
            data = base64.urlsafe_b64decode(raw_text + "=" * (-len(raw_text) % 4))
        except (ValueError, TypeError) as exc:
            raise ApiError(400, f"Invalid raw payload: {exc}") from exc
        return self._send_raw(mailbox, data, payload.get("threadId"))

    def _send_raw(self, mailbox: Mailbox, data: bytes, thread_id: str | None) -> Response:
        headers = email.parser.BytesParser(policy=email.policy.default).parsebytes(data, headersonly=True)
        senders = [a.addr_spec.lower() for a in (headers["From"].addresses if headers["From"] else ())]
        if senders != [mailbox.address.lower()]:
            raise ApiError(400, f"Invalid From header: {headers['From']!r} is not {mailbox.address}")
        recipients = [
            a.addr_spec.lower()
            for name in ("To", "Cc", "Bcc")
            for a in (headers[name].addresses if headers[name] else ())
        ]
        if not recipients:
            raise ApiError(400, "Invalid To header")
        stripped = re.sub(rb"(?im)^Bcc:.*(?:\r?\n[ \t].*)*\r?\n", b"", data, count=1)
        asked_thread = thread_id
        if thread_id:
            thread = [m for m in mailbox.messages.values() if m.thread_id == thread_id]
            related = set(
                re.findall(r"<[^>]+>", f"{headers['In-Reply-To'] or ''} {headers['References'] or ''}")
            )
            subject = _bare_subject(str(headers["Subject"] or ""))
            if not (
                thread
                and related & {m.message_id for m in thread}
                and any(_bare_subject(_subject_of(m.raw)) == subject for m in thread)
            ):
                thread_id = None
        mailbox.sent_log.append({"raw": stripped, "threadId": asked_thread, "recipients": recipients})
        gmail_id = self.new_id()
        message = FakeMessage(
            id=gmail_id,
            thread_id=thread_id or gmail_id,
            labels={"SENT"},
            raw=stripped,
            internal_date=int(time.time() * 1000),
            history_id=0,
            message_id=str(headers["Message-ID"] or "").strip(),
        )
        mailbox.messages[gmail_id] = message
        mailbox._record(message, "messagesAdded")
        for address in dict.fromkeys(recipients):
            other = self.mailboxes.get(address)
            if other is not None:
                self._deliver_locked(other, stripped)
        if mailbox.drop_send_answer:
            mailbox.drop_send_answer = False
            raise AnswerDropped
        if mailbox.lose_send_answer:
            mailbox.lose_send_answer = False
            raise ApiError(503, "The service is currently unavailable.", reason="backendError")
        return _json(200, message.minimal())

    def _upload(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        """``users.messages.send`` through media upload, as Google documents it:
        ``uploadType=multipart`` (metadata JSON and the message in one multipart/related
        request) or ``uploadType=resumable`` (a POST with the metadata opens a session and
        answers its URI in Location; PUTs with Content-Range bring the bytes, answered 308
        with Range until the last, which sends the message; ``bytes */total`` asks how far
        it got). A session that completed answers every later PUT with the same message:
        it is never sent twice. Above ``upload_send_limit`` → 413."""
        upload_type = (query.get("uploadType") or [""])[0]
        call = Call("messages.send.upload", method, path, 0, False, params=query)
        try:
            mailbox = self._mailbox_for(headers)
            call.mailbox = mailbox.address
            fault = self._take_fault("messages.send.upload", False)
            if fault is not None:
                response = self._fault_response(fault)
            elif method == "POST" and upload_type == "multipart":
                metadata, data = _multipart_related(headers.get("content-type", ""), body)
                response = self._upload_complete(mailbox, metadata, data)
            elif method == "POST" and upload_type == "resumable":
                total = headers.get("x-upload-content-length")
                if total is not None and int(total) > self.upload_send_limit:
                    raise ApiError(413, f"Request too large: the limit is {self.upload_send_limit} bytes.")
                upload_id = f"upload-{self.new_id()}"
                with self.lock:
                    self.uploads[upload_id] = UploadSession(
                        mailbox.address,
                        json.loads(body) if body.strip() else {},
                        None if total is None else int(total),
                    )
                location = (
                    f"{self.api_endpoint.rstrip('/')}{UPLOAD_PATH}?uploadType=resumable&upload_id={upload_id}"
                )
                response = (200, {"Location": location, "Content-Type": "text/plain"}, b"")
            elif method == "PUT" and upload_type == "resumable":
                response = self._upload_put(mailbox, (query.get("upload_id") or [""])[0], headers, body)
            else:
                raise ApiError(400, f"Unsupported upload: {method} uploadType={upload_type!r}")
        except ApiError as exc:
            response = exc.response()
        call.status = response[0]
        self._log(call)
        return response

    def _upload_put(self, mailbox: Mailbox, upload_id: str, headers: dict[str, str], body: bytes) -> Response:
        with self.lock:
            session = self.uploads.get(upload_id)
            if session is None or session.mailbox != mailbox.address:
                raise ApiError(404, "No such upload session.")
            if session.answer is not None:
                return session.answer  # complete: the same answer again, nothing sent again
            match = re.fullmatch(
                r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", headers.get("content-range", "").strip()
            )
            if match is None:
                raise ApiError(400, "Invalid Content-Range.")
            start, end, total_text = match.groups()
            total = None if total_text == "*" else int(total_text)
            if start is not None:
                if int(start) != len(session.data) or int(end) - int(start) + 1 != len(body):
                    raise ApiError(400, "Content-Range does not continue the upload.")
                session.data += body
            if total is not None:
                session.total = total
            if session.total is None or len(session.data) < session.total:
                out_headers = {"Content-Type": "text/plain"}
                if session.data:
                    out_headers["Range"] = f"bytes=0-{len(session.data) - 1}"
                return 308, out_headers, b""
            if len(session.data) > self.upload_send_limit:
                raise ApiError(413, f"Request too large: the limit is {self.upload_send_limit} bytes.")
            lost, dropped = mailbox.lose_send_answer, mailbox.drop_send_answer
            mailbox.lose_send_answer = mailbox.drop_send_answer = False
            session.answer = self._upload_complete(mailbox, session.metadata, bytes(session.data))
            if dropped:
                raise AnswerDropped
            if lost:
                raise ApiError(503, "The service is currently unavailable.", reason="backendError")
            return session.answer

    def _upload_complete(self, mailbox: Mailbox, metadata: dict[str, Any], data: bytes) -> Response:
        if len(data) > self.upload_send_limit:
            raise ApiError(413, f"Request too large: the limit is {self.upload_send_limit} bytes.")
        with self.lock:
            return self._send_raw(mailbox, data, metadata.get("threadId"))

    def _deliver_locked(self, mailbox: Mailbox, raw: bytes) -> None:
        headers = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw, headersonly=True)
        gmail_id = self.new_id()
        message = FakeMessage(
            id=gmail_id,
            thread_id=mailbox._thread_for(headers) or gmail_id,
            labels={"INBOX", "UNREAD"},
            raw=raw,
            internal_date=int(time.time() * 1000),
            history_id=0,
            message_id=(headers.get("Message-ID") or "").strip(),
        )
        mailbox.messages[gmail_id] = message
        mailbox._record(message, "messagesAdded")

    def _messages_get(
        self,
        mailbox: Mailbox,
        query: dict[str, list[str]],
        payload: dict[str, Any],
        gmail_id: str,
        *,
        in_batch: bool = False,
    ) -> Response:
        message = self._message(mailbox, gmail_id)
        fmt = (query.get("format") or ["full"])[0]
        broken = self.broken.get(gmail_id)
        if (
            broken is not None
            and broken.in_batch in (None, in_batch)
            and (broken.formats is None or fmt in broken.formats)
        ):
            raise ApiError(broken.status, f"Fake broken message: {broken.reason}", reason=broken.reason)
        return _json(200, message.resource(fmt, query.get("metadataHeaders")))

    def _messages_attachments_get(
        self,
        mailbox: Mailbox,
        query: dict[str, list[str]],
        payload: dict[str, Any],
        gmail_id: str,
        attachment_id: str,
    ) -> Response:
        """The part's bytes, base64url in one JSON answer, as Google sends them."""
        message = self._message(mailbox, gmail_id)
        prefix = f"att-{gmail_id}-"
        if not attachment_id.startswith(prefix):
            raise ApiError(400, "Invalid attachment token", reason="invalidArgument")
        part_id = attachment_id[len(prefix) :]
        part: email.message.Message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
            message.raw
        )
        if part_id != "0" or part.is_multipart():
            for step in part_id.split("."):
                children = part.get_payload() if part.is_multipart() else []
                if not step.isdigit() or int(step) >= len(children):
                    raise ApiError(404, "Requested entity was not found.", reason="notFound")
                part = children[int(step)]
        data = part.get_payload(decode=True) or b""
        answer = {"size": len(data), "data": base64.urlsafe_b64encode(data).decode()}
        del data
        status, headers, out = _json(200, answer)
        if self.attachment_answer_edit is not None:
            out = self.attachment_answer_edit(out)
        return status, headers, out

    def _messages_modify(
        self, mailbox: Mailbox, query: dict[str, list[str]], payload: dict[str, Any], gmail_id: str
    ) -> Response:
        message = self._message(mailbox, gmail_id)
        add, remove = self._label_args(payload)
        mailbox._modify(message, add, remove)
        return _json(200, message.minimal())

    def _messages_batchModify(
        self, mailbox: Mailbox, query: dict[str, list[str]], payload: dict[str, Any]
    ) -> Response:
        ids = payload.get("ids") or []
        if not ids:
            raise ApiError(400, "No message ids given.", reason="invalidArgument")
        if len(ids) > MAX_BATCH_MODIFY_IDS:
            raise ApiError(
                400, f"Too many ids: {len(ids)} > {MAX_BATCH_MODIFY_IDS}.", reason="invalidArgument"
            )
        add, remove = self._label_args(payload)
        # Strict on purpose: one unknown id fails the whole call and changes nothing.
        messages = [self._message(mailbox, gmail_id) for gmail_id in ids]
        for message in messages:
            mailbox._modify(message, add, remove)
        return 204, {}, b""

    def _messages_trash(
        self, mailbox: Mailbox, query: dict[str, list[str]], payload: dict[str, Any], gmail_id: str
    ) -> Response:
        message = self._message(mailbox, gmail_id)
        mailbox._modify(message, {"TRASH"}, {"INBOX"})
        return _json(200, message.minimal())

    def _messages_untrash(
        self, mailbox: Mailbox, query: dict[str, list[str]], payload: dict[str, Any], gmail_id: str
    ) -> Response:
        message = self._message(mailbox, gmail_id)
        mailbox._modify(message, set(), {"TRASH"})
        return _json(200, message.minimal())

    def _threads_get(
        self, mailbox: Mailbox, query: dict[str, list[str]], payload: dict[str, Any], thread_id: str
    ) -> Response:
        messages = self._thread_messages(mailbox, thread_id)
        fmt = (query.get("format") or ["full"])[0]
        return _json(200, {"id": thread_id, "messages": [m.resource(fmt) for m in messages]})

    def _threads_modify(
        self, mailbox: Mailbox, query: dict[str, list[str]], payload: dict[str, Any], thread_id: str
    ) -> Response:
        messages = self._thread_messages(mailbox, thread_id)
        add, remove = self._label_args(payload)
        for message in messages:
            mailbox._modify(message, add, remove)
        return _json(200, {"id": thread_id, "messages": [m.minimal() for m in messages]})

    def _thread_messages(self, mailbox: Mailbox, thread_id: str) -> list[FakeMessage]:
        messages = sorted(
            (m for m in mailbox.messages.values() if m.thread_id == thread_id), key=lambda m: m.internal_date
        )
        if not messages:
            raise ApiError(404, "Requested entity was not found.", reason="notFound")
        return messages

    def _history_list(
        self, mailbox: Mailbox, query: dict[str, list[str]], payload: dict[str, Any]
    ) -> Response:
        raw_start = (query.get("startHistoryId") or [""])[0]
        if not raw_start.isdigit():
            raise ApiError(400, "Invalid startHistoryId.", reason="invalidArgument")
        start = int(raw_start)
        if start < mailbox.oldest_history_id:
            raise ApiError(404, "Requested entity was not found.", reason="notFound")
        label = (query.get("labelId") or [""])[0]
        types = set(query.get("historyTypes", []))
        type_keys = {
            "messageAdded": "messagesAdded",
            "messageDeleted": "messagesDeleted",
            "labelAdded": "labelsAdded",
            "labelRemoved": "labelsRemoved",
        }
        wanted_keys = {type_keys[t] for t in types} if types else set(type_keys.values())
        records = []
        for record in mailbox.history:
            if int(record["id"]) <= start:
                continue
            kept = {k: v for k, v in record.items() if k in ("id", "messages") or k in wanted_keys}
            if len(kept) == 2:
                continue
            if label and not any(
                label in item["message"].get("labelIds", [])
                for key in wanted_keys
                for item in kept.get(key, [])
            ):
                continue
            records.append(json.loads(json.dumps(kept)))
        max_results = min(int((query.get("maxResults") or ["100"])[0]), 500, self.page_size)
        offset = int((query.get("pageToken") or ["0"])[0])
        page = records[offset : offset + max_results]
        body: dict[str, Any] = {"historyId": str(mailbox.history_id)}
        if page:
            body["history"] = page
        if offset + max_results < len(records):
            body["nextPageToken"] = str(offset + max_results)
        return _json(200, body)

    def _message(self, mailbox: Mailbox, gmail_id: str) -> FakeMessage:
        message = mailbox.messages.get(gmail_id)
        if message is None:
            raise ApiError(404, "Requested entity was not found.", reason="notFound")
        return message

    def _label_args(self, payload: dict[str, Any]) -> tuple[set[str], set[str]]:
        add = set(payload.get("addLabelIds") or [])
        remove = set(payload.get("removeLabelIds") or [])
        for label in add | remove:
            if label not in SYSTEM_LABELS | CATEGORY_LABELS and not label.startswith("Label_"):
                raise ApiError(400, f"Invalid label: {label}", reason="invalidArgument")
        return add, remove


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/gmail/v1/users/me/profile$"), "profile"),
    ("GET", re.compile(r"^/gmail/v1/users/me/messages$"), "messages.list"),
    ("POST", re.compile(r"^/gmail/v1/users/me/messages/batchModify$"), "messages.batchModify"),
    ("POST", re.compile(r"^/gmail/v1/users/me/messages/send$"), "messages.send"),
    ("GET", re.compile(r"^/gmail/v1/users/me/messages/([^/]+)$"), "messages.get"),
    (
        "GET",
        re.compile(r"^/gmail/v1/users/me/messages/([^/]+)/attachments/([^/]+)$"),
        "messages.attachments.get",
    ),
    ("POST", re.compile(r"^/gmail/v1/users/me/messages/([^/]+)/modify$"), "messages.modify"),
    ("POST", re.compile(r"^/gmail/v1/users/me/messages/([^/]+)/trash$"), "messages.trash"),
    ("POST", re.compile(r"^/gmail/v1/users/me/messages/([^/]+)/untrash$"), "messages.untrash"),
    ("GET", re.compile(r"^/gmail/v1/users/me/history$"), "history.list"),
    ("GET", re.compile(r"^/gmail/v1/users/me/threads/([^/]+)$"), "threads.get"),
    ("POST", re.compile(r"^/gmail/v1/users/me/threads/([^/]+)/modify$"), "threads.modify"),
]


def _route(method: str, path: str) -> tuple[str, tuple[str, ...]]:
    for route_method, pattern, endpoint in _ROUTES:
        match = pattern.match(path)
        if match and method == route_method:
            return endpoint, tuple(urllib.parse.unquote(g) for g in match.groups())
    return "unknown", ()


def _parse_q(q: str) -> tuple[int | None, int | None]:
    """Gmail search, the part a sync uses: ``after:`` / ``before:`` as epoch seconds or
    YYYY/MM/DD (``rfc822msgid:`` is taken apart by ``_rfc822msgid``). Anything else is
    refused so a test notices an unexpected query."""
    after = before = None
    for term in q.split():
        name, _, value = term.partition(":")
        if name == "rfc822msgid" and value:
            continue
        if name not in ("after", "before") or not value:
            raise ApiError(400, f"The fake Gmail server does not support the query term {term!r}.")
        if value.isdigit():
            seconds = int(value)
        else:
            seconds = int(datetime.strptime(value, "%Y/%m/%d").replace(tzinfo=UTC).timestamp())
        if name == "after":
            after = seconds
        else:
            before = seconds
    return after, before


def _subject_of(raw: bytes) -> str:
    headers = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw, headersonly=True)
    return str(headers["Subject"] or "")


def _bare_subject(subject: str) -> str:
    return re.sub(r"^\s*((re|fwd?)\s*:\s*)+", "", subject, flags=re.IGNORECASE).strip().lower()


def _rfc822msgid(q: str) -> str | None:
    """``rfc822msgid:<id>`` (with or without the angle brackets), as Gmail's search takes it."""
    for term in q.split():
        name, _, value = term.partition(":")
        if name == "rfc822msgid" and value:
            return "<" + value.strip("<>") + ">"
    return None


def _partial(response: Response, fields: str) -> Response:
    """Google's partial response (``fields=messages/id,nextPageToken`` or ``messages(id)``):
    only the selected fields come back."""
    status, headers, body = response
    return status, headers, json.dumps(_select(json.loads(body), _parse_fields(fields))).encode()


def _parse_fields(text: str) -> dict[str, Any]:
    """ "a/b,c(d,e)" → {"a": {"b": {}}, "c": {"d": {}, "e": {}}} ({} = the whole value)."""
    tree: dict[str, Any] = {}
    depth, start, items = 0, 0, []
    for i, ch in enumerate(text + ","):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    for item in filter(None, items):
        if "(" in item:
            name, inner = item.split("(", 1)
            node = tree
            for piece in name.split("/"):
                node = node.setdefault(piece, {})
            node.update(_parse_fields(inner[:-1]))
        else:
            node = tree
            for piece in item.split("/"):
                node = node.setdefault(piece, {})
    return tree


def _select(value: Any, tree: dict[str, Any]) -> Any:
    if not tree:
        return value
    if isinstance(value, list):
        return [_select(v, tree) for v in value]
    if isinstance(value, dict):
        return {k: _select(value[k], sub) for k, sub in tree.items() if k in value}
    return value


def _multipart_related(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    """The metadata (JSON) and the media (the message, as sent) of an uploadType=multipart body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/related") or match is None:
        raise ApiError(400, "uploadType=multipart needs a multipart/related body.")
    delimiter = b"--" + match.group(1).encode()
    parts = [p for p in body.split(delimiter)[1:] if not p.startswith(b"--")]
    if len(parts) != 2:
        raise ApiError(400, "uploadType=multipart needs the metadata and the media.")

    def content(part: bytes) -> bytes:
        part = part.lstrip(b"\r\n")
        ends = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := part.find(sep)) >= 0]
        start, length = min(ends) if ends else (len(part), 0)
        rest = part[start + length :]  # after the part's own headers
        return rest[:-2] if rest.endswith(b"\r\n") else rest[:-1] if rest.endswith(b"\n") else rest

    metadata = content(parts[0])
    return (json.loads(metadata) if metadata.strip() else {}), content(parts[1])


def _json(status: int, body: dict[str, Any], retry_after: str | None = None) -> Response:
    headers = {"Content-Type": "application/json; charset=UTF-8"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return status, headers, json.dumps(body).encode()


def _reason_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _handler_for(server: FakeGmail) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httplib2 expects
        # Headers and body leave in separate writes: without TCP_NODELAY the body waits for
        # the client's delayed ACK (~40 ms a request), as in tests/fakes/tls.py.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, out_headers, out = server.handle(self.command, self.path, headers, body)
            except AnswerDropped:
                self.close_connection = True
                return
            except Exception as exc:  # a fake bug must surface as a 500 the test sees
                status, out_headers, out = 500, {"Content-Type": "text/plain"}, repr(exc).encode()
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            hold = server.attachment_hold
            endpoint = _route(self.command, self.path.split("?")[0])[0]
            if hold is None or status != 200 or endpoint != "messages.attachments.get":
                self.wfile.write(out)
                return
            half = len(out) // 2
            self.wfile.write(out[:half])
            self.wfile.flush()
            if not hold.wait(server.attachment_hold_seconds):
                server.attachment_hold_expired = True
            self.wfile.write(out[half:])

        do_GET = do_POST = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@dataclass
class MessageFactory:
    """Builds RFC 5322 messages for a mailbox, with unique Message-IDs."""

    counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def make(
        self,
        *,
        subject: str = "Pricing question",
        sender: str = "Customer <customer@client.test>",
        to: str = "rep@example.test",
        body: str = "Hello, what does the Premium plan cost?",
        message_id: str | None = None,
        in_reply_to: str = "",
        when: datetime | None = None,
    ) -> tuple[str, str]:
        """Returns (raw message, Message-ID)."""
        n = next(self.counter)
        mid = message_id or f"<gmail-test-{n}-{time.monotonic_ns()}@client.test>"
        date = (when or datetime.now(UTC)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        lines = [
            f"From: {sender}",
            f"To: {to}",
            f"Subject: {subject}",
            f"Date: {date}",
            f"Message-ID: {mid}",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
        ]
        if in_reply_to:
            lines += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
        return "\r\n".join(lines) + "\r\n\r\n" + body + "\r\n", mid

    def make_large(
        self,
        size: int,
        *,
        subject: str = "Signed contract and scans",
        to: str = "rep@example.test",
        body: str = "Here are the signed contract and the scans.",
    ) -> tuple[bytes, str]:
        """(raw message of about ``size`` bytes, Message-ID): a short text part and one big
        attachment, as a 40 MB mail usually is."""
        raw, mid = self.make(subject=subject, to=to)
        head = raw.split("\r\n\r\n", 1)[0].replace("Content-Type: text/plain; charset=utf-8", "")
        boundary = f"large-{next(self.counter)}"
        chunk = base64.encodebytes(bytes(range(256)) * 3).replace(b"\n", b"\r\n")  # 1,040 bytes, 76 a line
        filler = chunk * max(1, size // len(chunk))
        return (
            head.rstrip("\r\n").encode()
            + f"\r\nContent-Type: multipart/mixed; boundary={boundary}\r\n\r\n".encode()
            + f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n".encode()
            + f"--{boundary}\r\nContent-Type: application/pdf; name=scans.pdf\r\n".encode()
            + b"Content-Disposition: attachment; filename=scans.pdf\r\n"
            + b"Content-Transfer-Encoding: base64\r\n\r\n"
            + filler
            + f"--{boundary}--\r\n".encode()
        ), mid
