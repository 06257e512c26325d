"""A real SMTP server for the tests: aiosmtpd on a loopback port chosen by the kernel
(port 0), with STARTTLS (or implicit TLS) from the suite's throw-away CA
(tests/fakes/tls.py) and AUTH PLAIN / LOGIN, refusing mail before a login.

Accepted mail is delivered the way an MTA would: into each recipient's Dovecot INBOX
(tests/imap/dovecot.py) when the recipient is a login there — so a test looks in the
customer's mailbox — and kept in ``received`` either way. ``hooks`` let a test act at an
exact point of a session (e.g. SIGKILL the sending worker when its RCPT TO arrives).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient

from tests.fakes.tls import LocalCA
from tests.imap.dovecot import Dovecot


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: str


@dataclass
class SmtpServer:
    """``security``: "starttls" (plain port, STARTTLS required before AUTH) or "ssl"
    (implicit TLS from the first byte)."""

    ca: LocalCA
    dovecot: Dovecot | None = None
    security: str = "starttls"
    host: str = "127.0.0.1"
    port: int = 0
    # login -> password; a login must be one of these
    users: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    refuse_rcpt: set[str] = field(default_factory=set)
    # "rcpt" | "data": called (with the session's peer) when that command arrives, once each
    hooks: dict[str, Callable[[tuple[str, int]], None]] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.base_events.Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> SmtpServer:
        context = self.ca.server_context("127.0.0.1", "localhost")
        ready = threading.Event()

        def factory() -> SMTP:
            if self.security == "ssl":
                # TLS is the transport itself: aiosmtpd cannot see it, so AUTH is allowed as is
                # (and its warning about AUTH without TLS does not apply).
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    return SMTP(
                        _Handler(self),
                        authenticator=self._authenticate,
                        auth_required=True,
                        auth_require_tls=False,
                    )
            return SMTP(
                _Handler(self),
                tls_context=context,
                require_starttls=True,
                authenticator=self._authenticate,
                auth_required=True,
            )

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            ssl_context = context if self.security == "ssl" else None
            self._server = loop.run_until_complete(loop.create_server(factory, self.host, 0, ssl=ssl_context))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="smtp-server")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the SMTP server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def add_user(self, login: str, password: str) -> None:
        self.users[login] = password

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(login) == password:
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    def _run_hook(self, name: str, session: Session) -> None:
        hook = self.hooks.pop(name, None)
        if hook is not None:
            hook(session.peer)

    def deliver(self, received: Received) -> None:
        """Into the INBOX of every recipient who is a login on the Dovecot server."""
        self.received.append(received)
        if self.dovecot is None:
            return
        from tests.imap.dovecot import PASSWORD

        logins = self.dovecot_logins()
        for rcpt in received.rcpt_tos:
            if rcpt.lower() not in logins:
                continue
            client = IMAPClient("127.0.0.1", port=self.dovecot.dovecot_port or self.dovecot.port, ssl=False)
            try:
                client.login(rcpt.lower(), PASSWORD)
                client.append("INBOX", received.content)
            finally:
                client.logout()

    def dovecot_logins(self) -> set[str]:
        assert self.dovecot is not None
        lines = self.dovecot.passwd_file.read_text().splitlines()
        return {line.split(":", 1)[0].lower() for line in lines if ":" in line}

    def account_config(self, login: str) -> dict[str, object]:
        """What an IMAP account's config stores for this server (``smtp`` key)."""
        return {"host": "127.0.0.1", "port": self.port, "security": self.security, "login": login}


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        self.server._run_hook("rcpt", session)
        if address.lower() in self.server.refuse_rcpt:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.server._run_hook("data", session)
        content = envelope.original_content or b""
        received = Received(
            mail_from=str(envelope.mail_from),
            rcpt_tos=list(envelope.rcpt_tos),
            content=content,
            login=str(session.auth_data or ""),
        )
        # Delivery talks IMAP (blocking): off the event loop.
        await asyncio.get_running_loop().run_in_executor(None, self.server.deliver, received)
        return "250 2.0.0 Message accepted for delivery"


def client_context(ca: LocalCA) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca.ca_file))
