"""A stateful fake of the Microsoft identity platform and Microsoft Graph mail, over TLS on
127.0.0.1, driven by the real msal and requests (nothing in the client is patched).

Identity (msal accepts only an https authority, hence TLS from ``tests.fakes.tls``):

* ``/{tenant}/v2.0/.well-known/openid-configuration`` (tenant discovery; msal runs with
  instance discovery off, so nothing else is asked),
* ``/{tenant}/oauth2/v2.0/authorize`` signs in the ``login_hint`` user (the "browser" step,
  see ``sign_in``) and redirects with a code bound to the PKCE challenge and nonce,
* ``/{tenant}/oauth2/v2.0/token``: ``authorization_code`` and ``refresh_token`` grants,
  client secret checked, ``invalid_grant`` once a user's grant is revoked, access tokens
  that Graph accepts until they expire or are expired on purpose.

Graph (``/v1.0``), only what mail sync and push use, with Graph's URLs, JSON and errors:

* ``/me`` and ``/users/{address}`` (a shared mailbox, for its delegates; a folder may be
  denied to a delegate: 403 ``ErrorAccessDenied`` for that folder and its messages only),
* ``mailFolders/{wellKnownName|id}``, ``mailFolders/{folder}/messages/delta`` (``$select``,
  ``$filter=receivedDateTime ge …``, ``Prefer: odata.maxpagesize``, next/delta links,
  ``@removed`` for anything that left the folder — moved or deleted alike, as Graph does —
  and 410 ``SyncStateNotFound`` for a link older than the folder's last
  ``DELTA_GENERATIONS`` delta links — Exchange keeps only a few — or once a folder's sync
  state is expired on purpose),
* ``mailFolders/{folder}/messages`` (``$select``, ``$filter=conversationId eq '…'``,
  ``$top``, next links),
* ``messages/{id}`` (``$select``), ``messages/{id}/$value`` (the MIME, streamed; a 40 MB
  message is generated as it is sent), ``messages/{id}/move``,
* ``sendMail`` with a MIME body (base64, ``Content-Type: text/plain``, as Graph documents
  sending MIME): ``Mail.Send`` (``Mail.Send.Shared`` for a mailbox the caller is a delegate
  of) is checked, at most 4 MB of request body (413 above), From must be the mailbox, the
  MIME's Message-ID / In-Reply-To / References are kept; the message lands in the sender's
  Sent Items (Bcc kept there) and in the Inbox of every recipient the fake has a mailbox for
  (Bcc stripped); ``sent_log`` lists each send.
  ``lose_send_response`` sends and then drops the connection without an answer (a lost
  response); ``file_sent_after`` files the Sent Items copy only after that many listings of
  Sent Items (Exchange files it moments after the 202),
* ``$batch`` (≤ 20 requests, run at most 4 at a time per mailbox like Exchange's
  per-mailbox concurrency, answers in a different order than asked),
* ids as Exchange has them: a message moved by a call without
  ``Prefer: IdType="ImmutableId"`` gets a new id (such calls are counted), and even an
  immutable id changes when the item moves to the online archive mailbox; Shift+Delete and
  emptying Deleted Items move items to Recoverable Items Deletions
  (``recoverableitemsdeletions``), where ``GET`` still finds them until they are purged,
* a per-mailbox concurrency limit of 4 requests in flight (a 5th gets 429
  ``ApplicationThrottled`` without Retry-After), with the highest concurrency seen recorded,
* faults on demand (429 with Retry-After, 5xx) for chosen operations, and persistent faults
  for one message id (``fail_message``),
* identity: a personal Microsoft account refuses ``Mail.ReadWrite.Shared``
  (``invalid_scope``); refresh tokens may expire (``refresh_token_lifetime``),
* a log of every call — outer requests and batch parts — for request-count assertions.

Test code acts as the Outlook user through ``FakeMailbox`` (``deliver``, ``deliver_large``,
``move``, ``delete_forever`` (Shift+Delete), ``empty_deleted_items``, ``purge``,
``move_to_online_archive``, ``deny``, ``expire_delta``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from typing import Any

from tests.fakes.tls import DropConnection, LocalCA, StreamBody, TLSServer, handler_class

MAX_BATCH = 20
MAILBOX_CONCURRENCY = 4
# Exchange keeps only the last few delta generations of a folder: older links answer 410.
DELTA_GENERATIONS = 3
SHARED_SCOPE = "Mail.ReadWrite.Shared"
DEFAULT_PAGE_SIZE = 10
IMMUTABLE_PREFER = 'IdType="ImmutableId"'
# Graph takes at most 4 MB in one request (larger mail needs an upload session).
SEND_MAX_BYTES = 4 * 1024 * 1024
# An attachment upload session takes a file of up to 150 MB, in PUTs of less than 4 MB.
UPLOAD_MAX_BYTES = 150 * 1024 * 1024
WELL_KNOWN = {
    "inbox": "Inbox",
    "sentitems": "Sent Items",
    "archive": "Archive",
    "deleteditems": "Deleted Items",
    "drafts": "Drafts",
    "junkemail": "Junk Email",
    "recoverableitemsdeletions": "Deletions",
}
RESERVED_SCOPES = {"openid", "profile", "offline_access"}

Response = tuple[int, dict[str, str], "bytes | StreamBody"]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GraphError(Exception):
    """An error answer in Graph's JSON error shape."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def answer(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {"date": _iso(datetime.now(UTC)), "request-id": secrets.token_hex(8)},
            }
        }
        return self.status, headers, body

    def response(self) -> Response:
        status, headers, body = self.answer()
        return status, headers, json.dumps(body).encode()


# The generated attachment of a large message: this line (57 bytes, base64) over and over.
_PAD_DECODED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz01234567"
_PAD_LINE = base64.b64encode(_PAD_DECODED) + b"\r\n"


@dataclass
class FakeMessage:
    id: str
    folder_id: str
    mime: bytes
    received: datetime
    conversation_id: str
    subject: str
    internet_message_id: str
    is_read: bool = False
    is_draft: bool = False
    # fileAttachments added to a draft through Graph (POST attachments or an upload
    # session): (name, content type, bytes, isInline, contentId).
    added: list[tuple[str, str, bytes, bool, str]] = field(default_factory=list)
    # A large message: ``mime`` holds its head, and ``pad`` bytes of base64 attachment (and
    # the closing boundary) are generated as the $value answer is written.
    pad: int = 0
    tail: bytes = b""

    @property
    def size(self) -> int:
        return len(self.mime) + self.pad + len(self.tail)

    def body(self, *, chunked: bool = False) -> bytes | StreamBody:
        if not self.pad and not chunked:
            return self.mime
        return StreamBody(self.size, self._chunks(), chunked=chunked)

    def _chunks(self) -> Iterator[bytes]:
        yield self.mime
        block = _PAD_LINE * (256 * 1024 // len(_PAD_LINE))
        left = self.pad
        while left > 0:
            chunk = block[:left]
            left -= len(chunk)
            yield chunk
        yield self.tail

    def text_body(self) -> str:
        """The message's text as Graph's ``body`` with ``outlook.body-content-type="text"``."""
        parsed = message_from_bytes(self.mime, policy=default_policy)
        for part in parsed.walk():
            if part.get_content_type() == "text/plain" and not part.is_attachment():
                try:
                    return str(part.get_content())
                except (LookupError, ValueError):
                    return ""
        return ""

    def attachments(self) -> list[tuple[dict[str, Any], bytes]]:
        """Graph's ``fileAttachment`` resources of the MIME's attachment and inline parts, in
        order, with their bytes. Ids are opaque (not the MIME part numbers). The generated
        attachment of a large message (``deliver_large``) is listed with its real size; its
        bytes come from ``attachment_bytes`` as they are sent."""
        parsed = message_from_bytes(self.mime + self.tail, policy=default_policy)
        found: list[tuple[dict[str, Any], bytes]] = []
        for part in parsed.walk():
            if part.is_multipart():
                continue
            cid = str(part.get("Content-ID") or "").strip().strip("<>")
            if not (part.is_attachment() or cid or part.get_content_maintype() not in ("text", "multipart")):
                continue
            data = part.get_payload(decode=True) or b""
            resource = {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "id": f"AAMkAtt{self.id[-6:]}{len(found):03d}=",
                "name": part.get_filename() or "",
                "contentType": part.get_content_type(),
                "size": len(data),
                "isInline": part.get_content_disposition() == "inline",
                "contentId": cid or None,
            }
            found.append((resource, data))
        if self.pad and found:
            found[-1][0]["size"] = self.generated_size
        return found

    @property
    def generated_size(self) -> int:
        """The decoded size of a large message's generated attachment (whole base64 lines)."""
        return self.pad // len(_PAD_LINE) * len(_PAD_DECODED)

    def attachment_bytes(self, attachment_id: str) -> bytes | StreamBody:
        listed = self.attachments()
        for index, (resource, data) in enumerate(listed):
            if resource["id"] == attachment_id:
                if self.pad and index == len(listed) - 1:
                    return StreamBody(self.generated_size, self._generated())
                return data
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def _generated(self) -> Iterator[bytes]:
        lines = self.pad // len(_PAD_LINE)
        block = 4096
        for start in range(0, lines, block):
            yield _PAD_DECODED * min(block, lines - start)

    def headers(self) -> list[dict[str, str]]:
        head = self.mime.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        parsed = message_from_bytes(head + b"\r\n\r\n", policy=default_policy)
        return [{"name": k, "value": str(v)} for k, v in parsed.items()]

    def resource(self, select: set[str] | None = None) -> dict[str, Any]:
        full = {
            "@odata.type": "#microsoft.graph.message",
            "id": self.id,
            "parentFolderId": self.folder_id,
            "receivedDateTime": _iso(self.received),
            "conversationId": self.conversation_id,
            "subject": self.subject,
            "internetMessageId": self.internet_message_id,
            "isRead": self.is_read,
            "isDraft": self.is_draft,
        }
        if select and "body" in select:
            full["body"] = {"contentType": "text", "content": self.text_body()}
        if select and "internetMessageHeaders" in select:
            full["internetMessageHeaders"] = self.headers()
        if not select:
            return full
        return {k: v for k, v in full.items() if k in select or k in ("id", "@odata.type")}


def _attachment_list(message: FakeMessage, select: set[str] | None) -> list[dict[str, Any]]:
    """``/messages/{id}/attachments``: without ``$select`` every fileAttachment carries its
    ``contentBytes`` (base64, as Graph sends them); with it, only the fields asked for."""
    out = []
    listed = message.attachments()
    for index, (resource, data) in enumerate(listed):
        if select:
            out.append({k: v for k, v in resource.items() if k in select or k in ("id", "@odata.type")})
            continue
        if message.pad and index == len(listed) - 1:
            data = b"".join(message._generated())
        out.append({**resource, "contentBytes": base64.b64encode(data).decode()})
    return out


@dataclass
class Call:
    mailbox: str
    op: str  # batch, folder, delta, get, value, move
    method: str
    path: str
    in_batch: bool
    status: int = 0
    batch_size: int = 0


@dataclass
class Fault:
    op: str
    remaining: int
    status: int
    retry_after: str | None
    code: str
    skip: int = 0  # calls of ``op`` that pass before the fault starts


@dataclass
class _DeltaState:
    folder_id: str
    generation: int
    seq: int
    since: datetime | None
    select: set[str]
    token: str = ""


@dataclass
class _Page:
    items: list[dict[str, Any]]
    delta_token: str
    page_size: int


class FakeMailbox:
    """One Exchange mailbox: folders, messages with immutable ids, and a change log."""

    def __init__(self, ms: FakeMicrosoft, address: str, *, archive: bool = True) -> None:
        self.ms = ms
        self.address = address.lower()
        self.folders: dict[str, str] = {
            name: f"FOLDER-{name}-{secrets.token_hex(4)}"
            for name in WELL_KNOWN
            if archive or name != "archive"
        }
        self.folder_names = {fid: name for name, fid in self.folders.items()}
        self.messages: dict[str, FakeMessage] = {}
        self.log: list[tuple[int, str, str]] = []  # (seq, folder id, message id): entered or left
        self.seq = 0
        self.generation: dict[str, int] = dict.fromkeys(self.folders.values(), 0)
        self.delegates: set[str] = set()
        # Folder ids a delegate may not open (their owner did not share them): 403.
        self.denied: set[str] = set()
        # Items moved to the online archive mailbox (new id -> message): gone from here.
        self.online_archive: dict[str, FakeMessage] = {}
        # The last DELTA_GENERATIONS delta tokens handed out per folder.
        self.delta_tokens: dict[str, deque[str]] = {}
        self.lock = threading.RLock()
        self.in_flight = 0
        self.max_in_flight = 0
        # Set to an Event to keep requests in flight until it is set (concurrency tests).
        self.hold: threading.Event | None = None
        # Every sendMail that was carried out: {"recipients": [...], "mime": bytes}.
        self.sent_log: list[dict[str, Any]] = []
        # Sent copies waiting to be filed in Sent Items: [listings of Sent Items left, mime].
        self.sent_pending: list[list[Any]] = []

    # --- what an Outlook user (or Exchange) does ----------------------------------------
    def deliver(
        self,
        mime: bytes | EmailMessage | None = None,
        *,
        folder: str = "inbox",
        received: datetime | None = None,
        **fields: Any,
    ) -> str:
        if mime is None:
            mime = make_mime(**fields)
        raw = bytes(mime) if isinstance(mime, EmailMessage) else mime
        parsed = message_from_bytes(raw, policy=default_policy)
        mid = str(parsed.get("Message-ID", "") or "")
        refs = str(parsed.get("References", "") or "").split()
        root = refs[0] if refs else (str(parsed.get("In-Reply-To", "") or "") or mid)
        if received is None:
            try:
                received = parsed["Date"].datetime if parsed["Date"] else None  # type: ignore[union-attr]
            except (TypeError, ValueError, AttributeError):
                received = None
        with self.lock:
            message = FakeMessage(
                id=self.ms.new_id(),
                folder_id=self.folders[folder],
                mime=raw,
                received=received or datetime.now(UTC),
                conversation_id="CONV-" + hashlib.sha1(root.encode()).hexdigest()[:16],  # noqa: S324
                subject=str(parsed.get("Subject", "") or ""),
                internet_message_id=mid,
                is_read=folder == "sentitems",
            )
            self.messages[message.id] = message
            self._record(message.folder_id, message.id)
        return message.id

    def deliver_large(
        self, size: int, *, folder: str = "inbox", text: str = "See the attached file.", **fields: Any
    ) -> str:
        """A message of about ``size`` bytes: a short text part and a big attachment that is
        generated as it is sent (the fake never holds it)."""
        boundary = "=_big_" + secrets.token_hex(6)
        plain = make_mime(text=text, **fields)
        head = b"".join(
            f"{k}: {v}\r\n".encode()
            for k, v in plain.items()
            if not k.lower().startswith(("content-", "mime-"))
        )
        mime = (
            head
            + f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()
            + f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n".encode()
            + f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f'Content-Disposition: attachment; filename="big.bin"\r\n'
            f"Content-Transfer-Encoding: base64\r\n\r\n".encode()
        )
        tail = f"\r\n--{boundary}--\r\n".encode()
        message_id = self.deliver(mime + tail, folder=folder, received=fields.get("date"))
        with self.lock:
            message = self.messages[message_id]
            message.mime, message.tail = mime, tail
            # Whole base64 lines: the generated attachment decodes to exactly generated_size bytes.
            message.pad = max(size - len(mime) - len(tail), 0) // len(_PAD_LINE) * len(_PAD_LINE)
        return message_id

    def move(self, message_id: str, folder: str, *, new_id: bool = False) -> str:
        """Move a message (as Outlook or Exchange does); returns its id afterwards, which is a
        new one with ``new_id`` (a move made without immutable ids)."""
        with self.lock:
            message = self.messages[message_id]
            target = self._folder_id(folder)
            if message.folder_id == target:
                return message_id
            self._record(message.folder_id, message_id)
            if new_id:
                del self.messages[message_id]
                message.id = self.ms.new_id()
                self.messages[message.id] = message
            message.folder_id = target
            self._record(target, message.id)
            return message.id

    def move_to_online_archive(self, message_id: str) -> str:
        """Exchange's archive policy moves the item to the online archive mailbox: it leaves
        this mailbox, and even its immutable id changes (the old one answers 404)."""
        with self.lock:
            message = self.messages.pop(message_id)
            self._record(message.folder_id, message_id)
            message.id = self.ms.new_id()
            self.online_archive[message.id] = message
            return message.id

    def empty_deleted_items(self) -> list[str]:
        """The user empties Deleted Items: everything there moves to Recoverable Items."""
        with self.lock:
            ids = sorted(self.ids_in("deleteditems"))
            for message_id in ids:
                self.move(message_id, "recoverableitemsdeletions")
            return ids

    def purge(self, message_id: str) -> None:
        """Gone from the store for good (Recoverable Items purged): every GET answers 404."""
        with self.lock:
            message = self.messages.pop(message_id)
            self._record(message.folder_id, message_id)

    def deny(self, folder: str) -> None:
        """The owner does not share ``folder`` with delegates: they get 403 for it."""
        with self.lock:
            self.denied.add(self._folder_id(folder))

    def mark_read(self, message_id: str, read: bool = True) -> None:
        """A change that is not a move: delta reports the message again, unchanged in place."""
        with self.lock:
            message = self.messages[message_id]
            message.is_read = read
            self._record(message.folder_id, message_id)

    def delete_forever(self, message_id: str) -> None:
        """Shift+Delete in Outlook: the item skips Deleted Items and lands in Recoverable
        Items Deletions (a permanent delete as far as the user is concerned)."""
        self.move(message_id, "recoverableitemsdeletions")

    def expire_delta(self, folder: str) -> None:
        """Every delta/next link of this folder now answers 410 (as after a long pause)."""
        with self.lock:
            self.generation[self.folders[folder]] += 1

    def file_pending_sent(self, *, listing: bool) -> None:
        """Exchange files a sent message in Sent Items a moment after the 202: a pending
        copy is filed once enough listings of Sent Items have passed."""
        with self.lock:
            for pending in list(self.sent_pending):
                if listing:
                    pending[0] -= 1
                if pending[0] <= 0:
                    self.sent_pending.remove(pending)
                    self.deliver(pending[1], folder="sentitems")

    def fail_message(self, message_id: str, *, op: str = "value", status: int = 500, code: str = "") -> None:
        """Every ``op`` (value, get) of this one message fails until ``heal_message``."""
        with self.ms._lock:
            self.ms.message_faults[(message_id, op)] = (status, code or "ErrorInternalServerError")

    def heal_message(self, message_id: str) -> None:
        with self.ms._lock:
            for key in [k for k in self.ms.message_faults if k[0] == message_id]:
                del self.ms.message_faults[key]

    def folder_of(self, message_id: str) -> str | None:
        message = self.messages.get(message_id)
        if message is None:
            return None
        return self.folder_names.get(message.folder_id, message.folder_id)

    def ids_in(self, folder: str) -> set[str]:
        fid = self.folders[folder]
        return {m.id for m in self.messages.values() if m.folder_id == fid}

    def add_folder(self, name: str) -> str:
        with self.lock:
            fid = f"FOLDER-custom-{secrets.token_hex(4)}"
            self.folders[name] = fid
            self.folder_names[fid] = name
            self.generation[fid] = 0
            return fid

    # --- internals ----------------------------------------------------------------------------
    def _record(self, folder_id: str, message_id: str) -> None:
        self.seq += 1
        self.log.append((self.seq, folder_id, message_id))

    def _folder_id(self, name_or_id: str) -> str:
        if name_or_id in self.folders:
            return self.folders[name_or_id]
        if name_or_id in self.folder_names:
            return name_or_id
        raise GraphError(404, "ErrorItemNotFound", "The specified folder could not be found in the store.")

    def _message(self, message_id: str) -> FakeMessage:
        message = self.messages.get(message_id)
        if message is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return message


def make_mime(
    *,
    subject: str = "Pricing",
    sender: str = "customer@client.test",
    to: Iterable[str] = ("rep@example.test",),
    message_id: str | None = None,
    in_reply_to: str = "",
    references: Iterable[str] = (),
    date: datetime | None = None,
    text: str = "Hello there",
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = message_id or make_msgid(domain="client.test")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    refs = list(references) or ([in_reply_to] if in_reply_to else [])
    if refs:
        message["References"] = " ".join(refs)
    message.set_content(text)
    return message


@dataclass
class _User:
    address: str
    uid: str
    tid: str
    personal: bool = False  # a personal Microsoft account (outlook.com): no .Shared scopes


class FakeMicrosoft:
    """The identity authority and Graph, sharing one state (users, tokens, mailboxes)."""

    client_id = "11111111-2222-3333-4444-555555555555"
    client_secret = "fake-client-secret"
    tenant_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

    def __init__(self, ca: LocalCA) -> None:
        self.ca = ca
        self._ports = (0, 0)  # the identity platform's and Graph's, known once started
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._identity: TLSServer | None = None
        self._graph: TLSServer | None = None
        self.reset()

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> FakeMicrosoft:
        self._identity = TLSServer(handler_class(self.handle_identity), self.ca).start()
        self._graph = TLSServer(handler_class(self.handle_graph), self.ca).start()
        self._ports = (self._identity.port, self._graph.port)
        return self

    def stop(self) -> None:
        for server in (self._identity, self._graph):
            if server is not None:
                server.stop()

    def reset(self) -> None:
        with self._lock:
            self.users: dict[str, _User] = {}
            self.mailboxes: dict[str, FakeMailbox] = {}
            self.codes: dict[str, dict[str, Any]] = {}
            self.refresh_tokens: dict[str, str] = {}
            self.refresh_expiry: dict[str, float] = {}
            # Seconds a refresh token lives (None: until revoked, as usual in Entra ID).
            self.refresh_token_lifetime: float | None = None
            self.message_faults: dict[tuple[str, str], tuple[int, str]] = {}
            self.calls_without_immutable_id = 0
            self.list_queries: list[dict[str, str]] = []  # query of every folder listing
            # $value answers without Content-Length (chunked), as a streaming server may send.
            self.chunked_values = False
            # The $select of each attachment listing (None: asked with the bytes).
            self.attachment_selects: list[set[str] | None] = []
            # Set by a test that drives the fake over the limit on purpose.
            self.allow_over_concurrency = False
            self.access_tokens: dict[str, tuple[str, float]] = {}
            # The scopes each access token was granted (short names, lower case: "mail.send").
            self.token_scopes: dict[str, set[str]] = {}
            # The next N sendMail calls are carried out, then their connection is dropped.
            self.lost_send_responses = 0
            # Attachment upload sessions by their URL token: [mailbox, draft id, name, type,
            # size, isInline, contentId, bytes so far, done].
            self.upload_sessions: dict[str, dict[str, Any]] = {}
            # Sent copies reach Sent Items only after this many listings of Sent Items.
            self.file_sent_after = 0
            self.access_token_lifetime = 3600
            self.token_calls: list[tuple[str, int]] = []  # (grant type, status)
            self.discovery_calls = 0
            self.calls: list[Call] = []
            self.faults: list[Fault] = []
            self.concurrency_rejections = 0
            self._delta_tokens: dict[str, _DeltaState] = {}
            self._pages: dict[str, _Page] = {}

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self._ports[0]}/common"

    @property
    def graph_endpoint(self) -> str:
        return f"https://127.0.0.1:{self._ports[1]}/v1.0"

    # --- test controls ---------------------------------------------------------------------------
    def add_mailbox(
        self, address: str, *, archive: bool = True, delegates: Iterable[str] = (), personal: bool = False
    ) -> FakeMailbox:
        with self._lock:
            address = address.lower()
            self.users.setdefault(address, _User(address, secrets.token_hex(8), self.tenant_id, personal))
            mailbox = FakeMailbox(self, address, archive=archive)
            mailbox.delegates = {d.lower() for d in delegates}
            self.mailboxes[address] = mailbox
            return mailbox

    def revoke(self, address: str) -> None:
        """The user revoked consent or changed password: refresh tokens stop working."""
        with self._lock:
            for token, owner in list(self.refresh_tokens.items()):
                if owner == address.lower():
                    del self.refresh_tokens[token]
            self.expire_access_tokens(address)

    def expire_access_tokens(self, address: str) -> None:
        """Graph stops accepting the user's current access tokens (msal still has them)."""
        with self._lock:
            for token, (owner, _) in list(self.access_tokens.items()):
                if owner == address.lower():
                    del self.access_tokens[token]

    def fail(
        self,
        op: str,
        *,
        times: int = 1,
        status: int = 429,
        retry_after: str | None = "30",
        code: str = "",
        after: int = 0,
    ) -> None:
        """The next ``times`` calls of ``op`` (batch, folder, delta, list, get, value, move)
        fail — after ``after`` more calls of it have passed."""
        code = code or {429: "ApplicationThrottled", 503: "ServiceUnavailable"}.get(
            status, "InternalServerError"
        )
        with self._lock:
            self.faults.append(Fault(op, times, status, retry_after, code, after))

    def lose_send_response(self, *, times: int = 1) -> None:
        """The next ``times`` sendMail calls send the message, then the connection drops
        before the answer (the client cannot tell whether it was sent)."""
        with self._lock:
            self.lost_send_responses += times

    def count(
        self, op: str, *, in_batch: bool | None = None, mailbox: str | None = None, status: int | None = None
    ) -> int:
        return len(self.calls_of(op, in_batch=in_batch, mailbox=mailbox, status=status))

    def calls_of(
        self, op: str, *, in_batch: bool | None = None, mailbox: str | None = None, status: int | None = None
    ) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self.calls
                if c.op == op
                and (in_batch is None or c.in_batch == in_batch)
                and (mailbox is None or c.mailbox == mailbox.lower())
                and (status is None or c.status == status)
            ]

    def over_concurrency(self) -> list[str]:
        """Mailboxes that ever had more than MAILBOX_CONCURRENCY requests in flight."""
        with self._lock:
            return [m.address for m in self.mailboxes.values() if m.max_in_flight > MAILBOX_CONCURRENCY]

    def batch_sizes(self, mailbox: str | None = None) -> list[int]:
        return [c.batch_size for c in self.calls_of("batch", mailbox=mailbox)]

    def token_grants(self) -> list[str]:
        return [grant for grant, _ in self.token_calls]

    def sign_in(self, auth_uri: str) -> dict[str, str]:
        """The browser step: the user (``login_hint``) signs in and consents; returns the
        query of the redirect back to the app, as the app's callback view would see it."""
        session = self.ca.client_session()
        response = session.get(auth_uri, allow_redirects=False, timeout=10)
        if response.status_code == 302:
            query = urllib.parse.urlsplit(response.headers["Location"]).query
            return {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        if response.status_code == 200 and "<form" in response.text:
            inputs = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', response.text)
            return {html.unescape(k): html.unescape(v) for k, v in inputs}
        raise AssertionError(f"sign-in failed: {response.status_code} {response.text}")

    def new_id(self) -> str:
        # Shaped like Graph ids (URL-unsafe "=" included, so clients must quote them).
        return f"AAMkAG{next(self._ids):06d}{secrets.token_urlsafe(18)}="

    # --- identity --------------------------------------------------------------------------------
    def handle_identity(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        url = urllib.parse.urlsplit(target)
        parts = [p for p in url.path.split("/") if p]
        if len(parts) < 2:
            return _json(404, {"error": "not_found"})
        tenant, rest = parts[0], "/".join(parts[1:])
        base = f"https://127.0.0.1:{self._ports[0]}/{tenant}"
        if method == "GET" and rest == "v2.0/.well-known/openid-configuration":
            with self._lock:
                self.discovery_calls += 1
            return _json(
                200,
                {
                    "issuer": f"https://127.0.0.1:{self._ports[0]}/{self.tenant_id}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                    "response_types_supported": ["code", "id_token", "code id_token"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "tenant_region_scope": "EU",
                },
            )
        if method == "GET" and rest == "oauth2/v2.0/authorize":
            return self._authorize(dict(urllib.parse.parse_qsl(url.query)))
        if method == "POST" and rest == "oauth2/v2.0/token":
            form = dict(urllib.parse.parse_qsl(body.decode()))
            status, answer = self._token(form)
            with self._lock:
                self.token_calls.append((form.get("grant_type", ""), status))
            return _json(status, answer)
        return _json(404, {"error": "not_found", "error_description": f"{method} {url.path}"})

    def _authorize(self, query: dict[str, str]) -> Response:
        if query.get("client_id") != self.client_id:
            return _json(400, {"error": "unauthorized_client"})
        user = self.users.get(query.get("login_hint", "").lower())
        if user is None:
            return _json(400, {"error": "invalid_request", "error_description": "fake: unknown login_hint"})
        if user.personal and SHARED_SCOPE.lower() in query.get("scope", "").lower():
            # What Microsoft answers a personal account asked for a work-or-school-only scope.
            refusal = {
                "error": "invalid_scope",
                "error_description": f"AADSTS70011: The provided value for scope {SHARED_SCOPE} is "
                "not valid for personal Microsoft accounts.",
                "state": query.get("state", ""),
            }
            return 302, {"Location": query["redirect_uri"] + "?" + urllib.parse.urlencode(refusal)}, b""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = {
                "address": user.address,
                "redirect_uri": query.get("redirect_uri", ""),
                "challenge": query.get("code_challenge", ""),
                "method": query.get("code_challenge_method", ""),
                "nonce": query.get("nonce", ""),
            }
        answer = {"code": code, "state": query.get("state", ""), "session_state": secrets.token_hex(8)}
        if query.get("response_mode") == "form_post":
            # The browser posts the answer to the app (the code never shows in a URL).
            fields = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in answer.items()
            )
            page = (
                f'<html><body onload="document.forms[0].submit()"><form method="post" '
                f'action="{html.escape(query["redirect_uri"])}">{fields}</form></body></html>'
            )
            return 200, {"Content-Type": "text/html"}, page.encode()
        location = query["redirect_uri"] + "?" + urllib.parse.urlencode(answer)
        return 302, {"Location": location}, b""

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id:
            return 400, {"error": "unauthorized_client", "error_description": "AADSTS700016: unknown app"}
        if form.get("client_secret") != self.client_secret:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret.",
            }
        grant = form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                code = self.codes.pop(form.get("code", ""), None)
                if code is None or code["redirect_uri"] != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant", "error_description": "AADSTS70008: bad code"}
                if code["challenge"]:
                    verifier = form.get("code_verifier", "")
                    if _b64url(hashlib.sha256(verifier.encode()).digest()) != code["challenge"]:
                        return 400, {"error": "invalid_grant", "error_description": "AADSTS501481: PKCE"}
                return 200, self._tokens_for(code["address"], form.get("scope", ""), nonce=code["nonce"])
            if grant == "refresh_token":
                token = form.get("refresh_token", "")
                owner = self.refresh_tokens.get(token)
                if owner is not None and self.refresh_expiry.get(token, float("inf")) < time.time():
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "AADSTS700082: The refresh token has expired due to inactivity.",
                        "error_codes": [700082],
                    }
                if (
                    owner is not None
                    and self.users[owner].personal
                    and SHARED_SCOPE.lower() in form.get("scope", "").lower()
                ):
                    return 400, {
                        "error": "invalid_scope",
                        "error_description": f"AADSTS70011: {SHARED_SCOPE}",
                    }
                if owner is None:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "AADSTS50173: The grant has expired: it was revoked.",
                        "error_codes": [50173],
                        "suberror": "bad_token",
                    }
                return 200, self._tokens_for(owner, form.get("scope", ""))
        return 400, {"error": "unsupported_grant_type"}

    def _tokens_for(self, address: str, scope: str, *, nonce: str = "") -> dict[str, Any]:
        user = self.users[address]
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(40)
        self.access_tokens[access] = (address, time.time() + self.access_token_lifetime)
        self.token_scopes[access] = {part.rsplit("/", 1)[-1].lower() for part in scope.split()}
        self.refresh_tokens[refresh] = address  # earlier refresh tokens stay valid, as in Entra ID
        if self.refresh_token_lifetime is not None:
            self.refresh_expiry[refresh] = time.time() + self.refresh_token_lifetime
        now = int(time.time())
        claims = {
            "aud": self.client_id,
            "iss": f"https://127.0.0.1:{self._ports[0]}/{user.tid}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": address.split("@")[0].title(),
            "oid": user.uid,
            "preferred_username": address,
            "sub": secrets.token_hex(8),
            "tid": user.tid,
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        id_token = ".".join(
            [_b64url(b'{"alg":"none","typ":"JWT"}'), _b64url(json.dumps(claims).encode()), ""]
        )
        return {
            "token_type": "Bearer",
            "scope": " ".join(s for s in scope.split() if s not in RESERVED_SCOPES),
            "expires_in": self.access_token_lifetime,
            "ext_expires_in": self.access_token_lifetime,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": _b64url(json.dumps({"uid": user.uid, "utid": user.tid}).encode()),
        }

    # --- Graph -------------------------------------------------------------------------------------
    def handle_graph(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        url = urllib.parse.urlsplit(target)
        if url.path.startswith("/v1.0/fake-upload/"):
            return self._upload_put(url.path.rsplit("/", 1)[1], headers, body)
        try:
            user = self._caller(headers)
        except GraphError as exc:
            with self._lock:
                self.calls.append(Call("", _op_of(url.path), method, url.path, False, exc.status))
            return exc.response()
        try:
            if url.path == "/v1.0/$batch" and method == "POST":
                return self._batch(user, headers, body)
            mailbox, op, runner = self._route(user, method, url.path, url.query, body)
        except GraphError as exc:
            return exc.response()
        status, out_headers, out = self._run(mailbox, op, method, url.path, headers, runner, in_batch=False)
        if op == "send" and status == 202:
            with self._lock:
                lose = self.lost_send_responses > 0
                self.lost_send_responses -= int(lose)
            if lose:
                raise DropConnection("fake: the sendMail answer is lost")
        if isinstance(out, bytes | StreamBody):
            return status, out_headers, out
        return status, {**out_headers, "Content-Type": "application/json"}, json.dumps(out).encode()

    def _caller(self, headers: dict[str, str]) -> str:
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        with self._lock:
            entry = self.access_tokens.get(token)
        if entry is None or entry[1] < time.time():
            raise GraphError(
                401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
            )
        return entry[0]

    def _mailbox(self, user: str, segment: list[str]) -> tuple[FakeMailbox, list[str]]:
        if segment[:1] == ["me"]:
            owner, rest = user, segment[1:]
        elif segment[:1] == ["users"] and len(segment) > 1:
            owner, rest = segment[1].lower(), segment[2:]
        else:
            raise GraphError(400, "BadRequest", "Resource not found for the segment.")
        mailbox = self.mailboxes.get(owner)
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{owner}' is invalid.")
        if owner != user and user not in mailbox.delegates:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return mailbox, rest

    def _route(self, user: str, method: str, path: str, query: str, body: bytes):  # type: ignore[no-untyped-def]
        if not path.startswith("/v1.0/"):
            raise GraphError(400, "BadRequest", "Invalid version.")
        segment = [urllib.parse.unquote(p) for p in path[len("/v1.0/") :].split("/") if p]
        mailbox, rest = self._mailbox(user, segment)
        params = dict(urllib.parse.parse_qsl(query))
        select = {s.strip() for s in params.get("$select", "").split(",") if s.strip()} or None
        if method == "GET" and len(rest) == 2 and rest[0] == "mailFolders":
            return mailbox, "folder", lambda h: (200, {}, self._folder(mailbox, rest[1], user))
        if method == "GET" and len(rest) == 3 and rest[0] == "mailFolders" and rest[2] == "messages":
            return mailbox, "list", lambda h: (200, {}, self._list(mailbox, rest[1], params, path, user))
        if (
            method == "GET"
            and len(rest) == 4
            and rest[0] == "mailFolders"
            and rest[2:] == ["messages", "delta"]
        ):
            return mailbox, "delta", lambda h: (200, {}, self._delta(mailbox, rest[1], params, h, path, user))
        if method == "POST" and rest == ["sendMail"]:
            return mailbox, "send", lambda h: (202, {}, self._send_mail(mailbox, body, h, user))
        if method == "POST" and rest == ["messages"]:
            return mailbox, "create", lambda h: (201, {}, self._create_draft(mailbox, body, h))
        if method == "POST" and len(rest) == 3 and rest[0] == "messages" and rest[2] == "send":
            return mailbox, "send", lambda h: (202, {}, self._send_draft(mailbox, rest[1], h, user))
        if method == "POST" and len(rest) == 3 and rest[0] == "messages" and rest[2] == "attachments":
            return mailbox, "attach", lambda h: (201, {}, self._attach(mailbox, rest[1], body))
        if (
            method == "POST"
            and rest[:1] == ["messages"]
            and rest[2:] == ["attachments", "createUploadSession"]
        ):
            return (
                mailbox,
                "upload_session",
                lambda h: (201, {}, self._upload_session(mailbox, rest[1], body)),
            )
        if method == "DELETE" and len(rest) == 2 and rest[0] == "messages":
            return mailbox, "delete", lambda h: (204, {}, self._delete(mailbox, rest[1]))
        if rest[:1] == ["messages"] and len(rest) >= 2:
            message_id = rest[1]
            if method == "GET" and len(rest) == 2:
                return (
                    mailbox,
                    "get",
                    lambda h: (200, {}, self._visible(mailbox, message_id, "get", user).resource(select)),
                )
            if method == "GET" and rest[2:] == ["$value"]:
                return (
                    mailbox,
                    "value",
                    lambda h: (
                        200,
                        {"Content-Type": "text/plain"},
                        self._visible(mailbox, message_id, "value", user).body(chunked=self.chunked_values),
                    ),
                )
            if method == "GET" and rest[2:] == ["attachments"]:
                return (
                    mailbox,
                    "attachments",
                    lambda h: (
                        200,
                        {},
                        {"value": self._attachment_list(mailbox, message_id, user, select)},
                    ),
                )
            if method == "GET" and len(rest) == 5 and rest[2] == "attachments" and rest[4] == "$value":
                return (
                    mailbox,
                    "attachment",
                    lambda h: (
                        200,
                        {"Content-Type": "application/octet-stream"},
                        self._visible(mailbox, message_id, "get", user).attachment_bytes(rest[3]),
                    ),
                )
            if method == "POST" and rest[2:] == ["move"]:
                return mailbox, "move", lambda h: (201, {}, self._move(mailbox, message_id, body, h, user))
            if method == "PATCH" and len(rest) == 2:
                return mailbox, "update", lambda h: (200, {}, self._update(mailbox, message_id, body, user))
        raise GraphError(400, "BadRequest", f"fake Graph does not implement {method} {path}")

    def _send_mail(self, mailbox: FakeMailbox, body: bytes, headers: dict[str, str], user: str) -> bytes:
        """``POST /sendMail`` with MIME: the body is the base64 of the whole message and the
        Content-Type is text/plain (a JSON message is not what the app sends: refused)."""
        if not headers.get("content-type", "").lower().startswith("text/plain"):
            raise GraphError(400, "ErrorInvalidRequest", "fake Graph sends MIME (text/plain) only")
        if len(body) > SEND_MAX_BYTES:
            raise GraphError(413, "RequestEntityTooLarge", "The request body exceeds the 4 MB limit.")
        token = headers.get("authorization", "")[7:]
        with self._lock:
            granted = self.token_scopes.get(token, set())
        needed = "mail.send" if mailbox.address == user else "mail.send.shared"
        if needed not in granted:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise GraphError(
                400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."
            ) from exc
        self._carry_out_send(mailbox, raw)
        return b""

    def _carry_out_send(self, mailbox: FakeMailbox, raw: bytes) -> None:
        """Checks the MIME as Exchange would, then files the copy in Sent Items (Bcc kept)
        and delivers it to every recipient the fake has a mailbox for (Bcc stripped)."""
        parsed = message_from_bytes(raw, policy=default_policy)
        sender = parsed["From"].addresses[0].addr_spec.lower() if parsed["From"] else ""
        if sender != mailbox.address:
            raise GraphError(
                403,
                "ErrorSendAsDenied",
                "The user account which was used to submit this request does "
                "not have the right to send mail on behalf of the specified sending account.",
            )
        recipients = [
            a.addr_spec.lower()
            for name in ("To", "Cc", "Bcc")
            for header in parsed.get_all(name) or []
            for a in header.addresses
        ]
        if not recipients:
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
        mailbox.sent_log.append({"recipients": recipients, "mime": raw})
        mailbox.sent_pending.append([self.file_sent_after, raw])
        mailbox.file_pending_sent(listing=False)
        delivered = raw
        if parsed["Bcc"] is not None:
            del parsed["Bcc"]
            delivered = parsed.as_bytes()
        for address in dict.fromkeys(recipients):
            target = self.mailboxes.get(address)
            if target is not None and target is not mailbox:
                with target.lock:
                    target.deliver(delivered)

    def _needs_send_scope(self, mailbox: FakeMailbox, headers: dict[str, str], user: str) -> None:
        token = headers.get("authorization", "")[7:]
        with self._lock:
            granted = self.token_scopes.get(token, set())
        needed = "mail.send" if mailbox.address == user else "mail.send.shared"
        if needed not in granted:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def _create_draft(self, mailbox: FakeMailbox, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """``POST /messages`` with MIME (base64, text/plain): a draft in Drafts that keeps
        the MIME's headers (Message-ID, In-Reply-To, References, Bcc) — as large as one
        request may be (4 MB); JSON drafts are not what the app makes: refused."""
        if not headers.get("content-type", "").lower().startswith("text/plain"):
            raise GraphError(
                400, "ErrorInvalidRequest", "fake Graph creates drafts from MIME (text/plain) only"
            )
        if len(body) > SEND_MAX_BYTES:
            raise GraphError(413, "RequestEntityTooLarge", "The request body exceeds the 4 MB limit.")
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise GraphError(
                400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."
            ) from exc
        draft_id = mailbox.deliver(raw, folder="drafts")
        draft = mailbox.messages[draft_id]
        draft.is_draft = draft.is_read = True
        return draft.resource(None)

    def _draft(self, mailbox: FakeMailbox, message_id: str) -> FakeMessage:
        draft = mailbox._message(message_id)
        if not draft.is_draft:
            raise GraphError(400, "ErrorInvalidOperation", "The item is not a draft.")
        return draft

    def _attach(self, mailbox: FakeMailbox, message_id: str, body: bytes) -> dict[str, Any]:
        """``POST /messages/{id}/attachments`` with a fileAttachment (contentBytes) in JSON."""
        if len(body) > SEND_MAX_BYTES:
            raise GraphError(413, "RequestEntityTooLarge", "The request body exceeds the 4 MB limit.")
        draft = self._draft(mailbox, message_id)
        item = json.loads(body)
        if item.get("@odata.type") != "#microsoft.graph.fileAttachment":
            raise GraphError(400, "ErrorInvalidRequest", "fake Graph attaches fileAttachments only")
        data = base64.b64decode(item["contentBytes"], validate=True)
        draft.added.append(
            (
                item["name"],
                item.get("contentType") or "application/octet-stream",
                data,
                bool(item.get("isInline")),
                item.get("contentId") or "",
            )
        )
        return {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "id": f"ATT-{len(draft.added)}",
            "size": len(data),
        }

    def _upload_session(self, mailbox: FakeMailbox, message_id: str, body: bytes) -> dict[str, Any]:
        """``POST /messages/{id}/attachments/createUploadSession``: an uploadUrl that takes
        PUTs with Content-Range and no Authorization header (the URL is the credential)."""
        self._draft(mailbox, message_id)
        item = (json.loads(body) or {}).get("AttachmentItem") or {}
        if (
            item.get("attachmentType") != "file"
            or not item.get("name")
            or not isinstance(item.get("size"), int)
        ):
            raise GraphError(
                400, "ErrorInvalidRequest", "AttachmentItem needs attachmentType file, name and size"
            )
        if item["size"] > UPLOAD_MAX_BYTES:
            raise GraphError(413, "ErrorAttachmentSizeLimitExceeded", "The attachment exceeds 150 MB.")
        token = secrets.token_hex(12)
        with self._lock:
            self.upload_sessions[token] = {
                "mailbox": mailbox.address,
                "draft": message_id,
                "item": item,
                "data": bytearray(),
                "done": False,
            }
        return {
            "uploadUrl": f"{self.graph_endpoint}/fake-upload/{token}",
            "expirationDateTime": _iso(datetime.now(UTC) + timedelta(hours=1)),
            "nextExpectedRanges": ["0-"],
        }

    def _upload_put(self, token: str, headers: dict[str, str], body: bytes) -> Response:
        with self._lock:
            session = self.upload_sessions.get(token)
            self.calls.append(
                Call(session["mailbox"] if session else "", "upload", "PUT", "/fake-upload", False, 0)
            )
            call = self.calls[-1]
        try:
            if session is None or session["done"]:
                raise GraphError(
                    404, "ErrorItemNotFound", "The upload session does not exist or is complete."
                )
            if "authorization" in headers:
                raise GraphError(
                    401, "InvalidAuthenticationToken", "An upload URL takes no Authorization header."
                )
            if len(body) > SEND_MAX_BYTES:
                raise GraphError(413, "RequestEntityTooLarge", "An upload request may carry at most 4 MB.")
            match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers.get("content-range", "").strip())
            size = session["item"]["size"]
            if match is None or int(match.group(3)) != size:
                raise GraphError(
                    400, "InvalidContentRange", "Content-Range is missing or does not match the size."
                )
            start, end = int(match.group(1)), int(match.group(2))
            if start != len(session["data"]) or end - start + 1 != len(body):
                raise GraphError(
                    416, "InvalidRange", f"The next expected range starts at {len(session['data'])}."
                )
            session["data"] += body
            if len(session["data"]) < size:
                answer: Response = _json(
                    200,
                    {
                        "expirationDateTime": _iso(datetime.now(UTC) + timedelta(hours=1)),
                        "nextExpectedRanges": [str(len(session["data"]))],
                    },
                )
            else:
                mailbox = self.mailboxes[session["mailbox"]]
                with mailbox.lock:
                    draft = self._draft(mailbox, session["draft"])
                    item = session["item"]
                    draft.added.append(
                        (
                            item["name"],
                            item.get("contentType") or "application/octet-stream",
                            bytes(session["data"]),
                            bool(item.get("isInline")),
                            item.get("contentId") or "",
                        )
                    )
                session["done"] = True
                answer = (
                    201,
                    {"Location": f"{self.graph_endpoint}/me/messages/{session['draft']}/attachments"},
                    b"",
                )
        except GraphError as exc:
            answer = exc.response()
        call.status = answer[0]
        return answer

    def _send_draft(self, mailbox: FakeMailbox, message_id: str, headers: dict[str, str], user: str) -> bytes:
        """``POST /messages/{id}/send``: the draft with its added attachments leaves like a
        sendMail (checks, Sent Items, recipients); the draft is gone from Drafts."""
        self._needs_send_scope(mailbox, headers, user)
        draft = self._draft(mailbox, message_id)
        composed = message_from_bytes(draft.mime, policy=default_policy)
        for name, content_type, data, inline, cid in draft.added:
            maintype, _, subtype = content_type.partition("/")
            composed.add_attachment(
                data,
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=name,
                disposition="inline" if inline else "attachment",
                cid=f"<{cid}>" if cid else None,
            )
        self._carry_out_send(mailbox, composed.as_bytes())
        del mailbox.messages[message_id]
        mailbox._record(draft.folder_id, message_id)
        return b""

    def _delete(self, mailbox: FakeMailbox, message_id: str) -> bytes:
        message = mailbox._message(message_id)
        del mailbox.messages[message_id]
        mailbox._record(message.folder_id, message_id)
        return b""

    def _update(self, mailbox, message_id: str, body: bytes, user: str):  # type: ignore[no-untyped-def]
        """``PATCH /messages/{id}``: only ``isRead`` (a boolean), as the app sends it; anything
        else is refused so a test notices."""
        payload = json.loads(body or b"{}") if isinstance(body, bytes | str) else dict(body or {})
        if set(payload) != {"isRead"} or not isinstance(payload["isRead"], bool):
            raise GraphError(400, "ErrorInvalidRequest", f"fake Graph updates isRead only, got {payload!r}")
        message = self._visible(mailbox, message_id, "update", user)
        mailbox.mark_read(message.id, payload["isRead"])
        return message.resource(None)

    def _run(self, mailbox, op, method, path, headers, runner, *, in_batch):  # type: ignore[no-untyped-def]
        call = Call(mailbox.address, op, method, path, in_batch)
        with self._lock:
            self.calls.append(call)
        if IMMUTABLE_PREFER.lower() not in headers.get("prefer", "").lower():
            # Served, but a move made this way changes the message's id (see _move).
            with self._lock:
                self.calls_without_immutable_id += 1
        with mailbox.lock:
            mailbox.in_flight += 1
            mailbox.max_in_flight = max(mailbox.max_in_flight, mailbox.in_flight)
            over = mailbox.in_flight > MAILBOX_CONCURRENCY
        try:
            if over:
                with self._lock:
                    self.concurrency_rejections += 1
                # Exchange's MailboxConcurrency refusal carries no Retry-After.
                raise GraphError(
                    429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit."
                )
            fault = self._take_fault(op)
            if fault is not None:
                raise GraphError(fault.status, fault.code, "fake fault", retry_after=fault.retry_after)
            if mailbox.hold is not None:
                mailbox.hold.wait(timeout=30)
            with mailbox.lock:
                call.status, out_headers, out = runner(headers)
        except GraphError as exc:
            call.status, out_headers, out = exc.answer()
        finally:
            with mailbox.lock:
                mailbox.in_flight -= 1
        return call.status, out_headers, out

    def _take_fault(self, op: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.op == op and fault.remaining > 0:
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.remaining -= 1
                    return fault
        return None

    def _check_folder(self, mailbox: FakeMailbox, fid: str, user: str) -> None:
        if fid in mailbox.denied and user != mailbox.address:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def _attachment_list(
        self, mailbox: FakeMailbox, message_id: str, user: str, select: set[str] | None
    ) -> list[dict[str, Any]]:
        message = self._visible(mailbox, message_id, "get", user)
        with self._lock:
            self.attachment_selects.append(select)
        return _attachment_list(message, select)

    def _visible(self, mailbox: FakeMailbox, message_id: str, op: str, user: str) -> FakeMessage:
        with self._lock:
            fault = self.message_faults.get((message_id, op))
        if fault is not None:
            raise GraphError(fault[0], fault[1], "fake persistent fault for this message")
        message = mailbox._message(message_id)
        self._check_folder(mailbox, message.folder_id, user)
        return message

    def _list(
        self, mailbox: FakeMailbox, folder: str, params: dict[str, str], path: str, user: str
    ) -> dict[str, Any]:
        fid = mailbox._folder_id(folder)
        self._check_folder(mailbox, fid, user)
        select = {s.strip() for s in params.get("$select", "").split(",") if s.strip()} or None
        with self._lock:
            self.list_queries.append(dict(params))
        if fid == mailbox.folders.get("sentitems"):
            mailbox.file_pending_sent(listing=True)
        found = [m for m in mailbox.messages.values() if m.folder_id == fid]
        raw_filter = params.get("$filter", "")
        if raw_filter:
            # OData strings double a single quote inside them.
            match = re.fullmatch(
                r"\s*(conversationId|internetMessageId)\s+eq\s+'((?:[^']|'')*)'\s*", raw_filter
            )
            if not match:
                raise GraphError(
                    400, "ErrorInvalidUrlQueryFilter", "fake: only conversationId / internetMessageId eq '…'"
                )
            wanted = match.group(2).replace("''", "'")
            if match.group(1) == "conversationId":
                found = [m for m in found if m.conversation_id == wanted]
            else:
                found = [m for m in found if m.internet_message_id == wanted]
        found.sort(key=lambda m: m.received, reverse=True)
        top = min(int(params.get("$top", "10")), 1000)
        skip = int(params.get("$skip", "0"))
        page = found[skip : skip + top]
        answer: dict[str, Any] = {"value": [m.resource(select) for m in page]}
        if skip + top < len(found):
            query = {k: v for k, v in params.items() if k != "$skip"}
            query["$skip"] = str(skip + top)
            link = f"https://127.0.0.1:{self._ports[1]}{path}?{urllib.parse.urlencode(query)}"
            answer["@odata.nextLink"] = link
        return answer

    def _folder(self, mailbox: FakeMailbox, name_or_id: str, user: str) -> dict[str, Any]:
        fid = mailbox._folder_id(name_or_id)
        self._check_folder(mailbox, fid, user)
        name = mailbox.folder_names[fid]
        return {
            "id": fid,
            "displayName": WELL_KNOWN.get(name, name),
            "totalItemCount": sum(1 for m in mailbox.messages.values() if m.folder_id == fid),
        }

    def _move(
        self, mailbox: FakeMailbox, message_id: str, body: bytes, headers: dict[str, str], user: str
    ) -> dict[str, Any]:
        try:
            destination = json.loads(body or b"{}")["destinationId"]
        except (ValueError, KeyError) as exc:
            raise GraphError(400, "ErrorInvalidRequest", "destinationId is required") from exc
        self._visible(mailbox, message_id, "move", user)
        self._check_folder(mailbox, mailbox._folder_id(destination), user)
        immutable = IMMUTABLE_PREFER.lower() in headers.get("prefer", "").lower()
        new_id = mailbox.move(message_id, destination, new_id=not immutable)
        return mailbox.messages[new_id].resource()

    def _delta(
        self,
        mailbox: FakeMailbox,
        folder: str,
        params: dict[str, str],
        headers: dict[str, str],
        path: str,
        user: str,
    ) -> dict[str, Any]:
        fid = mailbox._folder_id(folder)
        self._check_folder(mailbox, fid, user)
        prefer = headers.get("prefer", "")
        size_match = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        page_size = min(int(size_match.group(1)), DEFAULT_PAGE_SIZE) if size_match else DEFAULT_PAGE_SIZE
        link_base = f"https://127.0.0.1:{self._ports[1]}{path}"
        if "$skiptoken" in params:
            page = self._pages.get(params["$skiptoken"])
            state = self._delta_tokens.get(page.delta_token) if page else None
            if page is None or state is None or state.generation != mailbox.generation[fid]:
                raise GraphError(410, "SyncStateNotFound", "The sync state generation is no longer valid.")
            return self._serve_page(params["$skiptoken"], page, link_base)
        if "$deltatoken" in params:
            state = self._delta_tokens.get(params["$deltatoken"])
            if state is None or state.folder_id != fid or state.generation != mailbox.generation[fid]:
                raise GraphError(410, "SyncStateNotFound", "The sync state generation is no longer valid.")
            items = self._changes(mailbox, state)
            since, select = state.since, state.select
        else:
            since = _parse_filter(params.get("$filter", ""))
            select = {s.strip() for s in params.get("$select", "").split(",") if s.strip()}
            current = [m for m in mailbox.messages.values() if m.folder_id == fid and _matches(m, since)]
            items = [m.resource(select or None) for m in sorted(current, key=lambda m: m.received)]
        token = secrets.token_urlsafe(16)
        self._delta_tokens[token] = _DeltaState(
            fid, mailbox.generation[fid], mailbox.seq, since, select, token
        )
        # A new generation: Exchange forgets the oldest beyond the last few.
        kept = mailbox.delta_tokens.setdefault(fid, deque())
        kept.append(token)
        while len(kept) > DELTA_GENERATIONS:
            self._delta_tokens.pop(kept.popleft(), None)
        skip = secrets.token_urlsafe(16)
        page = _Page(items, token, page_size)
        self._pages[skip] = page
        return self._serve_page(skip, page, link_base)

    def _serve_page(self, skip: str, page: _Page, link_base: str) -> dict[str, Any]:
        items, rest = page.items[: page.page_size], page.items[page.page_size :]
        answer: dict[str, Any] = {"@odata.context": "$metadata#Collection(message)", "value": items}
        if rest:
            next_skip = secrets.token_urlsafe(16)
            self._pages[next_skip] = _Page(rest, page.delta_token, page.page_size)
            answer["@odata.nextLink"] = f"{link_base}?$skiptoken={next_skip}"
        else:
            answer["@odata.deltaLink"] = f"{link_base}?$deltatoken={page.delta_token}"
        self._pages.pop(skip, None)
        return answer

    def _changes(self, mailbox: FakeMailbox, state: _DeltaState) -> list[dict[str, Any]]:
        touched: dict[str, int] = {}
        for seq, fid, message_id in mailbox.log:
            if seq > state.seq and fid == state.folder_id:
                touched[message_id] = seq
        items = []
        for message_id in sorted(touched, key=touched.__getitem__):
            message = mailbox.messages.get(message_id)
            if message is not None and message.folder_id == state.folder_id:
                if _matches(message, state.since):
                    items.append(message.resource(state.select or None))
            else:
                # Graph says "deleted" for anything that left the folder, moves included.
                items.append(
                    {
                        "@odata.type": "#microsoft.graph.message",
                        "id": message_id,
                        "@removed": {"reason": "deleted"},
                    }
                )
        return items

    def _batch(self, user: str, headers: dict[str, str], body: bytes) -> Response:
        try:
            requests = json.loads(body)["requests"]
        except (ValueError, KeyError, TypeError):
            return GraphError(400, "BadRequest", "Invalid batch payload.").response()
        owners = set()
        parsed = []
        for part in requests:
            rel = str(part.get("url", ""))
            url = urllib.parse.urlsplit("/v1.0/" + rel.lstrip("/"))
            owner = [urllib.parse.unquote(p) for p in url.path[len("/v1.0/") :].split("/") if p]
            owners.add(user if owner[:1] == ["me"] else (owner[1].lower() if len(owner) > 1 else ""))
            parsed.append((part, url))
        call = Call(
            owners.pop() if len(owners) == 1 else "", "batch", "POST", "/v1.0/$batch", False, 0, len(requests)
        )
        with self._lock:
            self.calls.append(call)
        if len(requests) > MAX_BATCH:
            call.status = 400
            return GraphError(
                400, "BadRequest", f"Batch request limit exceeded: {len(requests)} > {MAX_BATCH}."
            ).response()
        if len({p.get("id") for p in requests}) != len(requests) or any(p.get("dependsOn") for p in requests):
            call.status = 400
            return GraphError(400, "BadRequest", "fake Graph: unique ids, no dependsOn").response()
        fault = self._take_fault("batch")
        if fault is not None:
            call.status = fault.status
            return GraphError(
                fault.status, fault.code, "fake fault", retry_after=fault.retry_after
            ).response()

        def run(item: tuple[dict[str, Any], urllib.parse.SplitResult]) -> dict[str, Any]:
            part, url = item
            part_headers = {k.lower(): str(v) for k, v in (part.get("headers") or {}).items()}
            part_body = json.dumps(part["body"]).encode() if part.get("body") is not None else b""
            try:
                mailbox, op, runner = self._route(
                    user, str(part.get("method", "GET")).upper(), url.path, url.query, part_body
                )
            except GraphError as exc:
                status, out_headers, out = exc.answer()
            else:
                status, out_headers, out = self._run(
                    mailbox, op, part.get("method", "GET"), url.path, part_headers, runner, in_batch=True
                )
            if isinstance(out, StreamBody):
                out = b"".join(out.chunks)
            if isinstance(out, bytes):
                out = base64.b64encode(out).decode()
            return {"id": part.get("id"), "status": status, "headers": out_headers, "body": out}

        # Exchange runs about 4 requests of a batch at once per mailbox.
        with ThreadPoolExecutor(max_workers=MAILBOX_CONCURRENCY) as pool:
            responses = list(pool.map(run, parsed))
        call.status = 200
        # Answers come back in their own order; clients correlate by id.
        return _json(200, {"responses": list(reversed(responses))})


def _op_of(path: str) -> str:
    if path.endswith("/$batch"):
        return "batch"
    markers = (("/delta", "delta"), ("/$value", "value"), ("/move", "move"), ("/mailFolders/", "folder"))
    for marker, op in markers:
        if marker in path:
            return op
    return "get"


def _parse_filter(raw: str) -> datetime | None:
    if not raw:
        return None
    match = re.fullmatch(r"\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*", raw)
    if not match:
        raise GraphError(400, "ErrorInvalidUrlQueryFilter", "delta supports only receivedDateTime ge|gt")
    return datetime.fromisoformat(match.group(2).replace("Z", "+00:00"))


def _matches(message: FakeMessage, since: datetime | None) -> bool:
    return since is None or message.received >= since


__all__ = ["FakeMailbox", "FakeMicrosoft", "GraphError", "make_mime"]
