"""An IMAP proxy that understands just enough of the protocol to misbehave on purpose.

It sits between the app (or any client) and a real Dovecot on 127.0.0.1 and passes every
command and response through, except where a *rule* says otherwise. It reads whole
commands and whole responses (literals included, ``{n}`` and ``{n+}``), so message bodies
are never mangled, and it knows which command each response answers.

Two kinds of rules:

* **Server traits** (always on for a variant): ``without_capabilities("MOVE", "UIDPLUS")``
  makes a Dovecot behave like a server that really lacks them — the names are removed from
  every CAPABILITY answer, ``MOVE``/``UID MOVE``/``UID EXPUNGE`` are answered ``BAD`` and
  never reach Dovecot, and ``[COPYUID …]``/``[APPENDUID …]`` codes are removed from answers.
* ``gmail_ids()`` (a trait for tests that need Gmail's ``X-GM-EXT-1``, in front of the
  Gmail-style Dovecot): ``X-GM-EXT-1`` is added to every CAPABILITY answer, and
  ``X-GM-MSGID`` is Dovecot's ``X-GUID`` under Gmail's name — a FETCH of ``X-GM-MSGID``
  asks Dovecot for ``X-GUID`` and answers a 63-bit number made from it; ``SEARCH X-GM-MSGID
  n`` becomes ``SEARCH X-GUID`` of that GUID. Like Gmail's id, the GUID stays the same when
  a message moves between folders (All Mail shows the same GUID). Only the ids: labels
  (``X-GM-LABELS``) are not emulated, so tests with this trait do not push.
* **Faults** a test switches on and off (each returns a :class:`Fault`; ``times=None`` keeps
  it on until ``fault.off()``, ``times=n`` lets it fire n times):

  - ``fail_fetch(uid, folder=…)`` — a FETCH that covers the UID is answered ``NO`` (the other
    messages of the same FETCH are still returned, as Gmail does);
  - ``omit_fetch(uid, folder=…)`` — the UID is silently left out of a FETCH answer;
  - ``refuse_login("UNAVAILABLE")`` — LOGIN/AUTHENTICATE answered ``NO [UNAVAILABLE]``;
  - ``refuse_charset()`` — ``SEARCH CHARSET …`` answered ``NO [BADCHARSET (US-ASCII)]``;
  - ``hide_folder(name)`` — LIST/LSUB answers (and LIST-STATUS's STATUS lines) leave it out;
  - ``empty_header_search()`` — a SEARCH with a HEADER key answers "nothing found".

By default the FETCH faults only hit FETCHes that ask for message content (``BODY[]``,
``BODY.PEEK[…]``, ``RFC822``): the message is listed and has flags, but its bytes cannot be
had — the way a broken message looks on real servers.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from typing import BinaryIO

from imapclient.imap_utf7 import encode as encode_utf7

from tests.ports import listening_socket

LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r\n$")
CONTENT_ITEMS = re.compile(rb"BODY(\.PEEK)?\[|RFC822(?![.\w])|BINARY(\.PEEK)?\[", re.IGNORECASE)
RESPONSE_UID = re.compile(rb"[( ]UID (\d+)", re.IGNORECASE)
ANY_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n")


@dataclass
class Fault:
    """One switchable misbehaviour. ``hits`` counts how often it fired."""

    kind: str
    times: int | None = None
    options: dict[str, object] = field(default_factory=dict)
    hits: int = 0
    active: bool = True

    def off(self) -> None:
        self.active = False

    def on(self, times: int | None = None) -> None:
        self.times = times
        self.active = True

    def fire(self) -> bool:
        """Use up one shot; False when the fault is off or spent."""
        if not self.active:
            return False
        self.hits += 1
        if self.times is not None and self.hits >= self.times:
            self.active = False
        return True


@dataclass
class Command:
    tag: bytes
    name: str  # e.g. "UID FETCH", "SELECT", "LOGIN"
    text: bytes  # the command's text without literal data
    folder: bytes | None  # the folder selected when the command was sent (modified UTF-7)
    fetch_faults: list[Fault] = field(default_factory=list)
    dropped_fetch: list[Fault] = field(default_factory=list)
    hide: list[bytes] = field(default_factory=list)
    empty_search: bool = False


class _Connection:
    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.client_in: BinaryIO = client.makefile("rb")
        self.upstream_in: BinaryIO = upstream.makefile("rb")
        self.send_lock = threading.Lock()
        self.pending: dict[bytes, Command] = {}
        self.selected: bytes | None = None

    def to_client(self, data: bytes) -> None:
        with self.send_lock:
            self.client.sendall(data)

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()

    # --- client → server ------------------------------------------------------------------
    def client_loop(self) -> None:
        try:
            while line := self.client_in.readline():
                self._command(line)
        except OSError:
            pass
        finally:
            self.close()

    def _command(self, first: bytes) -> None:
        tag, name, text = _parse_command(first)
        command = Command(tag, name, text, self.selected)
        answer = self.proxy._on_command(command) if tag else None
        literal = LITERAL.search(first)
        if answer is not None:
            # Answered here; a non-synchronising literal is already on its way: swallow it and
            # the rest of the command. A synchronising one is never sent (no "+" from us).
            line = first
            while (literal := LITERAL.search(line)) and literal.group(2):
                self.client_in.read(int(literal.group(1)))
                line = self.client_in.readline()
            self.to_client(tag + b" " + answer + b"\r\n")
            return
        if tag:
            self.pending[tag] = command
        if name in ("SELECT", "EXAMINE"):
            self.selected = _folder_argument(text)
        self.upstream.sendall(self.proxy._rewrite_command(command, first))
        line = first
        while literal := LITERAL.search(line):
            self.upstream.sendall(self.client_in.read(int(literal.group(1))))
            line = self.client_in.readline()
            self.upstream.sendall(line)

    # --- server → client ------------------------------------------------------------------
    def server_loop(self) -> None:
        try:
            while True:
                unit = self._read_response()
                if not unit:
                    return
                out = self._response(unit)
                if out is not None:
                    self.to_client(out)
        except OSError:
            pass
        finally:
            self.close()

    def _read_response(self) -> bytes:
        line = self.upstream_in.readline()
        unit = line
        while literal := LITERAL.search(line):
            unit += self.upstream_in.read(int(literal.group(1)))
            line = self.upstream_in.readline()
            unit += line
        return unit

    def _response(self, unit: bytes) -> bytes | None:
        unit = self.proxy._rewrite_any(unit)
        if unit.startswith(b"+"):
            return unit
        if unit.startswith(b"* "):
            current = list(self.pending.values())
            for command in current:
                rewritten = self.proxy._on_untagged(command, unit)
                if rewritten is None:
                    return None
                unit = rewritten
            return unit
        tag = unit.split(b" ", 1)[0]
        command = self.pending.pop(tag, None)
        if command is None:
            return unit
        if command.name in ("SELECT", "EXAMINE") and not unit.split(b" ")[1].upper().startswith(b"OK"):
            self.selected = None
        return self.proxy._on_tagged(command, unit)


def _parse_command(line: bytes) -> tuple[bytes, str, bytes]:
    text = LITERAL.sub(b"", line).rstrip(b"\r\n")
    parts = text.split(b" ", 3)
    if len(parts) < 2 or parts[0].upper() == b"DONE":
        return b"", "", text
    tag, verb = parts[0], parts[1].upper()
    if verb == b"UID" and len(parts) > 2:
        return tag, f"UID {parts[2].upper().decode(errors='replace')}", text
    return tag, verb.decode(errors="replace"), text


def _folder_argument(text: bytes) -> bytes | None:
    """The folder of ``tag SELECT "name"`` (as sent, modified UTF-7)."""
    rest = text.split(b" ", 2)[2] if text.count(b" ") >= 2 else b""
    rest = re.sub(rb"\s*\(.*\)\s*$", b"", rest).strip()
    if rest.startswith(b'"') and rest.endswith(b'"'):
        rest = rest[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
    return rest or None


def _uid_set_contains(uid_set: bytes, uid: int) -> bool:
    for part in uid_set.split(b","):
        if b":" in part:
            low, high = part.split(b":", 1)
            lo = int(low) if low != b"*" else 2**32
            hi = int(high) if high != b"*" else 2**32
            if min(lo, hi) <= uid <= max(lo, hi):
                return True
        elif part == b"*" or (part.isdigit() and int(part) == uid):
            return True
    return False


class FaultProxy:
    """See the module docstring. ``start()`` listens on a port the kernel picks."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: socket.socket | None = None
        self._lock = threading.Lock()
        self.missing: frozenset[bytes] = frozenset()
        self.gmail = False
        self.guids: dict[int, bytes] = {}  # X-GM-MSGID → Dovecot's X-GUID (gmail_ids)
        self.faults: list[Fault] = []
        self.commands: list[bytes] = []

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        server = listening_socket(backlog=32)
        self._server, self.port = server, server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name=f"imap-fault-proxy-{self.port}").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            with suppress(OSError):
                self._server.close()
            self._server = None

    def _accept(self) -> None:
        while (server := self._server) is not None:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            # The proxy writes a response line by line (and a command around its literals):
            # with Nagle's algorithm on, each small write after the first waits for the peer's
            # delayed ACK (40 ms on Linux), which made every command through the proxy slow.
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(self, client, upstream)
            threading.Thread(target=connection.server_loop, daemon=True).start()
            threading.Thread(target=connection.client_loop, daemon=True).start()

    # --- server traits ----------------------------------------------------------------------
    def without_capabilities(self, *names: str) -> FaultProxy:
        self.missing = frozenset(name.upper().encode() for name in names)
        return self

    def gmail_ids(self) -> FaultProxy:
        self.gmail = True
        return self

    def _gmail_id(self, guid: bytes) -> int:
        number = int.from_bytes(hashlib.sha256(guid).digest()[:8], "big") >> 1  # 63 bits, as Gmail's
        with self._lock:
            self.guids[number] = guid
        return number

    def _rewrite_command(self, command: Command, line: bytes) -> bytes:
        if not self.gmail:
            return line
        if command.name in ("FETCH", "UID FETCH"):
            return re.sub(rb"\bX-GM-MSGID\b", b"X-GUID", line, flags=re.IGNORECASE)
        if command.name in ("SEARCH", "UID SEARCH"):

            def guid(match: re.Match[bytes]) -> bytes:
                known = self.guids.get(int(match.group(1)), b"unknown-" + match.group(1))
                return b'X-GUID "' + known + b'"'

            return re.sub(rb"\bX-GM-MSGID (\d+)", guid, line, flags=re.IGNORECASE)
        return line

    def _gmail_fetch(self, unit: bytes) -> bytes:
        """``X-GUID g`` → ``X-GM-MSGID n`` in a FETCH answer, outside its literals (bodies)."""
        out, position = b"", 0
        while True:
            literal = ANY_LITERAL.search(unit, position)
            end = literal.end() if literal else len(unit)
            out += re.sub(
                rb"X-GUID (\S+?)(?=[ )])",
                lambda m: b"X-GM-MSGID " + str(self._gmail_id(m.group(1))).encode(),
                unit[position:end],
            )
            if literal is None:
                return out
            size = int(literal.group(1))
            out += unit[end : end + size]
            position = end + size

    # --- faults -----------------------------------------------------------------------------------
    def _add(self, kind: str, times: int | None, **options: object) -> Fault:
        fault = Fault(kind, times, dict(options))
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail_fetch(
        self, uid: int, *, folder: str | None = None, times: int | None = None, content_only: bool = True
    ) -> Fault:
        return self._add("fetch-no", times, uid=uid, folder=_encoded(folder), content_only=content_only)

    def omit_fetch(
        self, uid: int, *, folder: str | None = None, times: int | None = None, content_only: bool = True
    ) -> Fault:
        return self._add("fetch-omit", times, uid=uid, folder=_encoded(folder), content_only=content_only)

    def refuse_login(self, code: str = "UNAVAILABLE", *, times: int | None = None) -> Fault:
        return self._add("login", times, code=code)

    def refuse_charset(self, *, times: int | None = None) -> Fault:
        return self._add("badcharset", times)

    def hide_folder(self, name: str, *, times: int | None = None) -> Fault:
        return self._add("hide", times, name=_encoded(name))

    def empty_header_search(self, *, times: int | None = 1) -> Fault:
        return self._add("empty-search", times)

    def refuse_search(self, containing: bytes, *, times: int | None = None) -> Fault:
        """Answer ``NO [UNAVAILABLE]`` to a SEARCH whose text contains ``containing``."""
        return self._add("search-no", times, containing=containing)

    def clear(self) -> None:
        with self._lock:
            for fault in self.faults:
                fault.off()
            self.faults.clear()

    def _active(self, kind: str) -> list[Fault]:
        with self._lock:
            return [f for f in self.faults if f.kind == kind and f.active]

    # --- hooks called by connections -----------------------------------------------------------
    def _on_command(self, command: Command) -> bytes | None:
        """An answer to send instead of passing the command on, or None."""
        self.commands.append(command.text)
        name, text = command.name, command.text
        if b"MOVE" in self.missing and name in ("MOVE", "UID MOVE"):
            return b"BAD Error in IMAP command: Unknown command."
        if b"UIDPLUS" in self.missing and name == "UID EXPUNGE":
            return b"BAD Error in IMAP command UID: Unknown command."
        if name in ("LOGIN", "AUTHENTICATE"):
            for fault in self._active("login"):
                if fault.fire():
                    code = str(fault.options["code"]).encode()
                    return b"NO [" + code + b"] Service temporarily unavailable, try again later."
        if name in ("SEARCH", "UID SEARCH"):
            if re.search(rb"\sCHARSET\s+(?!US-ASCII\b)", text, re.IGNORECASE):
                for fault in self._active("badcharset"):
                    if fault.fire():
                        return b"NO [BADCHARSET (US-ASCII)] The specified charset is not supported."
            for fault in self._active("search-no"):
                if bytes(fault.options["containing"]) in text and fault.fire():  # type: ignore[call-overload]
                    return b"NO [UNAVAILABLE] Search failed, try again later."
            if re.search(rb"\sHEADER\s", text, re.IGNORECASE):
                for fault in self._active("empty-search"):
                    if fault.fire():
                        command.empty_search = True
                        break
        if name in ("FETCH", "UID FETCH"):
            parts = text.split(b" ")
            uid_set = parts[3] if name == "UID FETCH" and len(parts) > 3 else b""
            for fault in self._active("fetch-no") + self._active("fetch-omit"):
                options = fault.options
                if options["folder"] is not None and options["folder"] != command.folder:
                    continue
                if options["content_only"] and not CONTENT_ITEMS.search(text):
                    continue
                if uid_set and not _uid_set_contains(uid_set, int(options["uid"])):  # type: ignore[arg-type]
                    continue
                command.fetch_faults.append(fault)
        if name in ("LIST", "LSUB", "XLIST"):
            for fault in self._active("hide"):
                if fault.fire():
                    command.hide.append(fault.options["name"])  # type: ignore[arg-type]
        return None

    def _rewrite_any(self, unit: bytes) -> bytes:
        if self.gmail:
            if re.match(rb"\* \d+ FETCH ", unit, re.IGNORECASE):
                return self._gmail_fetch(unit)
            unit = re.sub(
                rb"(\[CAPABILITY [^\]]*|^\* CAPABILITY [^\r\n]*)", lambda m: m.group(1) + b" X-GM-EXT-1", unit
            )
        if not self.missing:
            return unit
        if unit.startswith(b"* ") and not re.match(rb"\* (OK|NO|BAD|BYE|PREAUTH|CAPABILITY)\b", unit):
            return unit  # data (FETCH, LIST, …): nothing to strip, and never touch message bytes
        unit = re.sub(rb" ?\[(COPYUID|APPENDUID) [^\]]*\]", b"", unit)
        unit = re.sub(
            rb"\[CAPABILITY ([^\]]*)\]", lambda m: b"[CAPABILITY " + self._kept(m.group(1)) + b"]", unit
        )
        return re.sub(
            rb"^\* CAPABILITY ([^\r\n]*)", lambda m: b"* CAPABILITY " + self._kept(m.group(1)), unit
        )

    def _kept(self, capabilities: bytes) -> bytes:
        return b" ".join(c for c in capabilities.split(b" ") if c.upper() not in self.missing)

    def _on_untagged(self, command: Command, unit: bytes) -> bytes | None:
        head = unit.split(b"\r\n", 1)[0]
        if command.fetch_faults and re.match(rb"\* \d+ FETCH ", head, re.IGNORECASE):
            text = b"".join(LITERAL.sub(b"", part) for part in unit.split(b"\r\n"))
            uid = RESPONSE_UID.search(text)
            for fault in command.fetch_faults:
                if uid and int(uid.group(1)) == fault.options["uid"] and fault.fire():
                    command.dropped_fetch.append(fault)
                    return None
        if command.hide and re.match(rb"\* (LIST|LSUB|XLIST|STATUS) ", head, re.IGNORECASE):
            name = _listed_name(unit)
            if name is not None and name in command.hide:
                return None
        if command.empty_search:
            if re.match(rb"\* SEARCH\b", head, re.IGNORECASE):
                return b"* SEARCH\r\n"
            if re.match(rb"\* ESEARCH\b", head, re.IGNORECASE):
                kept = re.match(rb"\* ESEARCH( \(TAG \"[^\"]*\"\))?( UID)?", head, re.IGNORECASE)
                return (kept.group(0) if kept else b"* ESEARCH") + b"\r\n"
        return unit

    def _on_tagged(self, command: Command, unit: bytes) -> bytes:
        refused = [f for f in command.dropped_fetch if f.kind == "fetch-no"]
        if refused and re.match(rb"\S+ OK", unit, re.IGNORECASE):
            return command.tag + b" NO [SERVERBUG] Some messages could not be FETCHed (Failure)\r\n"
        return unit


def _listed_name(unit: bytes) -> bytes | None:
    """The mailbox name of a LIST/LSUB/STATUS response (as sent: modified UTF-7)."""
    lines = unit.split(b"\r\n")
    head = lines[0]
    literal = LITERAL.search(head + b"\r\n")
    if literal:
        return lines[1][: int(literal.group(1))] if len(lines) > 1 else None
    if head.upper().startswith(b"* STATUS "):
        rest = head[len(b"* STATUS ") :]
    else:
        match = re.match(rb"\* \w+ \([^)]*\) (?:NIL|\"(?:[^\"\\]|\\.)*\") (.*)$", head)
        if not match:
            return None
        rest = match.group(1)
    if rest.startswith(b'"'):
        end = re.match(rb'"((?:[^"\\]|\\.)*)"', rest)
        return end.group(1).replace(b'\\"', b'"').replace(b"\\\\", b"\\") if end else None
    return rest.split(b" ", 1)[0]


def _encoded(name: str | None) -> bytes | None:
    return None if name is None else bytes(encode_utf7(name))
