"""Ports for every server the suite starts: the kernel picks them (bind to port 0), so test
sessions and pytest-xdist workers on one machine never need a range of their own.

- A server in this process (the fake Google and Microsoft, proxies, relays) takes a socket
  that is already bound and listening: ``listening_socket()``, or ``http_server()`` for
  ``http.server`` classes. Nothing can take the port between choosing and binding it.
- A server in another process (Dovecot, Cyrus, redis-server, Caddy, gunicorn) is told a
  port: ``free_port()`` asks the kernel for one and releases it. Another process could bind
  it before the server does; every caller's start loop checks that the listener is its own
  server and tries again on a fresh port if not.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TypeVar

HOST = "127.0.0.1"

S = TypeVar("S", bound=HTTPServer)


def listening_socket(host: str = HOST, *, backlog: int = 128) -> socket.socket:
    """A TCP socket bound to a port the kernel chose, already listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def free_port(host: str = HOST, *, exclude: Iterable[int] = ()) -> int:
    """A port free right now, for a server in another process (see the module docstring)."""
    skip = set(exclude)
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port not in skip:
            return port


def http_server(
    handler: type[BaseHTTPRequestHandler],
    server_class: type[S],
    *args: object,
    sock: socket.socket | None = None,
) -> S:
    """``server_class(address, handler, *args)`` serving on a handed-over listening socket
    (``sock`` or a fresh ``listening_socket()``)."""
    sock = sock or listening_socket()
    server = server_class(sock.getsockname(), handler, *args, bind_and_activate=False)  # type: ignore[call-arg]
    server.socket.close()
    server.socket = sock
    host, port = sock.getsockname()[:2]
    server.server_address = (host, port)
    # What HTTPServer.server_bind sets (without its getfqdn() lookup).
    server.server_name, server.server_port = host, port
    return server
