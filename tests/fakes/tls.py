"""TLS for local fake servers: a throw-away certificate authority (trustme) and a threaded
HTTPS server runner.

Some client libraries only speak https to certain endpoints (msal refuses an http
authority), so a fake must serve real TLS. The CA exists only for the test session: its
PEM file is what the client under test is told to trust (``verify=<ca file>`` on a
``requests.Session`` with ``trust_env=False``, because these machines set
REQUESTS_CA_BUNDLE, which otherwise wins over the session's ``verify``).
"""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import trustme

from tests.ports import http_server

LOCAL_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class LocalCA:
    """A certificate authority trusted by nobody but the tests that ask for it."""

    ca: trustme.CA
    ca_file: Path

    def server_context(self, *names: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(*(names or LOCAL_NAMES)).configure_cert(context)
        return context

    def client_session(self) -> requests.Session:
        """A requests session that trusts this CA only and ignores proxy/CA env variables."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.ca_file)
        return session


def make_local_ca(directory: Path) -> LocalCA:
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Sales Inbox test CA")
    ca_file = directory / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return LocalCA(ca=ca, ca_file=ca_file)


_suite_ca: LocalCA | None = None


def suite_ca() -> LocalCA:
    """The suite's one certificate authority (per process, so per xdist worker): every fake
    HTTPS server and Dovecot's TLS listeners have certificates it issued. Its PEM file lives
    in a temporary directory removed at exit."""
    global _suite_ca
    if _suite_ca is None:
        directory = Path(tempfile.mkdtemp(prefix="si-test-ca-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        _suite_ca = make_local_ca(directory)
    return _suite_ca


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
        bind_and_activate: bool = True,
    ):
        self._context = context
        super().__init__(address, handler, bind_and_activate)

    def get_request(self):  # type: ignore[no-untyped-def]
        sock, address = super().get_request()
        # The handshake runs in the handler thread (on first read), so one slow or broken
        # client cannot block the accept loop.
        return self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
        # Clients that hang up (connection pools closing at exit) are not test failures.
        pass


class TLSServer:
    """One HTTPS server on 127.0.0.1 in a background thread, on a port the kernel picks."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], ca: LocalCA) -> None:
        self._server = http_server(handler, _TLSServer, ca.server_context())
        # shutdown() waits for serve_forever's next poll (0.5 s by default).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def start(self) -> TLSServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class StreamBody:
    """A response body written in chunks as it is produced (a 40 MB message is never held
    whole by the fake): ``length`` bytes from the ``chunks`` iterator."""

    def __init__(self, length: int, chunks: Iterable[bytes], *, chunked: bool = False) -> None:
        self.length = length
        self.chunks = chunks
        # Sent with Transfer-Encoding: chunked (no Content-Length): the client learns the size
        # only by reading.
        self.chunked = chunked

    def __len__(self) -> int:
        return self.length


Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], "bytes | StreamBody"]]


class DropConnection(Exception):
    """Raised by a handler: the connection closes without any answer (a lost response)."""


def handler_class(handle: Handler) -> type[BaseHTTPRequestHandler]:
    """A request handler that hands (method, target, headers, body) to ``handle`` and writes
    back its (status, headers, body), keeping HTTP/1.1 connections alive."""

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in separate writes: without TCP_NODELAY the body waits for
        # the client's delayed ACK (~40 ms a request).
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, out_headers, out_body = handle(self.command, self.path, headers, body)
            except DropConnection:
                self.close_connection = True
                return
            self.send_response(status)
            for name, value in out_headers.items():
                self.send_header(name, value)
            chunked = isinstance(out_body, StreamBody) and out_body.chunked
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(out_body)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if isinstance(out_body, StreamBody):
                try:
                    for chunk in out_body.chunks:
                        if chunked and chunk:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        elif not chunked:
                            self.wfile.write(chunk)
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    # The client stopped reading (a size cap): nothing more to send.
                    self.close_connection = True
                return
            self.wfile.write(out_body)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return _Handler
