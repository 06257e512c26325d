"""The servers the suite starts, shared by every test package (registered once in
tests/conftest.py): the test CA, the fake Microsoft identity platform and Graph, and the
real Dovecot (and Cyrus) configurations of tests/imap/dovecot.py.

Each is started at most once per session — per xdist worker — on ports the kernel picks
(tests/ports.py), with its files under a temporary directory; function-scoped fixtures
reset its state for every test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sync.providers.outlook import auth as graph_auth
from tests.fakes.graph_server import FakeMicrosoft
from tests.fakes.tls import LocalCA, suite_ca
from tests.imap.dovecot import Dovecot
from tests.imap.servers.cyrus import Cyrus
from tests.imap.servers.cyrus import available as cyrus_available


# --- the test CA and the fake Microsoft ------------------------------------------------------
@pytest.fixture(scope="session")
def local_ca() -> LocalCA:
    """The suite's one certificate authority (tests/fakes/tls.py ``suite_ca``)."""
    return suite_ca()


@pytest.fixture(scope="session")
def microsoft_server(local_ca: LocalCA) -> Iterator[FakeMicrosoft]:
    fake = FakeMicrosoft(local_ca).start()
    yield fake
    fake.stop()


@pytest.fixture
def ms(microsoft_server: FakeMicrosoft, local_ca: LocalCA, settings) -> Iterator[FakeMicrosoft]:  # type: ignore[no-untyped-def]
    """The fake Microsoft, emptied, with the app configured to use it."""
    microsoft_server.reset()
    graph_auth._HTTP_CACHE.clear()
    settings.MS_CLIENT_ID = microsoft_server.client_id
    settings.MS_CLIENT_SECRET = microsoft_server.client_secret
    settings.MS_AUTHORITY = microsoft_server.authority
    settings.GRAPH_API_ENDPOINT = microsoft_server.graph_endpoint
    settings.MS_CA_BUNDLE = str(local_ca.ca_file)
    yield microsoft_server
    graph_auth._HTTP_CACHE.clear()
    if not microsoft_server.allow_over_concurrency:
        # Exchange's limit, for pushes and pulls of a mailbox together: never more than 4.
        assert microsoft_server.over_concurrency() == [], "more than 4 Graph requests in flight"


# --- Dovecot and Cyrus -------------------------------------------------------------------------
_servers: dict[str, Dovecot] = {}


@pytest.fixture(scope="session")
def dovecot_servers() -> Iterator[dict[str, Dovecot]]:
    """Servers start on first use; all stop at the end of the session."""
    yield _servers
    for running in _servers.values():
        running.cleanup()
    _servers.clear()


def server(servers: dict[str, Dovecot], variant: str) -> Dovecot:
    if variant not in servers:
        if variant == "cyrus":
            servers[variant] = Cyrus().start()  # type: ignore[assignment]
        else:
            servers[variant] = Dovecot(variant).start()
    return servers[variant]


def require_cyrus() -> None:
    """Cyrus tests skip on a developer machine without it, and fail in CI (CI=true), where
    scripts/ensure-test-services.sh must have installed it."""
    if cyrus_available():
        return
    message = "Cyrus IMAP (cyrus-imapd) is not installed: run scripts/ensure-test-services.sh"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def dovecot(dovecot_servers: dict[str, Dovecot]) -> Dovecot:
    """Dovecot with special-use folders, MOVE, CONDSTORE and QRESYNC."""
    return server(dovecot_servers, "standard")


@pytest.fixture
def dovecot_fallback(dovecot_servers: dict[str, Dovecot]) -> Dovecot:
    """Dovecot without special-use flags, MOVE, CONDSTORE or QRESYNC."""
    return server(dovecot_servers, "fallback")


@pytest.fixture
def dovecot_nomove(dovecot_servers: dict[str, Dovecot]) -> Dovecot:
    """(b) Dovecot with neither MOVE nor UIDPLUS: not advertised, MOVE/UID MOVE/UID EXPUNGE
    refused, no COPYUID/APPENDUID codes (a FaultProxy in front enforces it)."""
    return server(dovecot_servers, "nomove")


@pytest.fixture
def dovecot_localized(dovecot_servers: dict[str, Dovecot]) -> Dovecot:
    """(c) No SPECIAL-USE; "INBOX." namespace prefix, "." separator, German folder names."""
    return server(dovecot_servers, "localized")


@pytest.fixture
def dovecot_faulty(dovecot_servers: dict[str, Dovecot]) -> Iterator[Dovecot]:
    """(f) The standard Dovecot behind a FaultProxy (``dovecot_faulty.proxy``); every fault a
    test switches on is switched off again after it."""
    faulty = server(dovecot_servers, "faulty")
    yield faulty
    assert faulty.proxy is not None
    faulty.proxy.clear()


@pytest.fixture
def dovecot_gmail(dovecot_servers: dict[str, Dovecot]) -> Dovecot:
    """(d) Gmail-style: "[Gmail]/All Mail" (\\All) over every folder but Trash and Spam,
    "[Gmail]/Trash", "[Gmail]/Sent Mail", "[Gmail]/Spam"; no \\Archive, no X-GM-EXT-1."""
    return server(dovecot_servers, "gmail")


@pytest.fixture
def cyrus(dovecot_servers: dict[str, Dovecot]) -> Dovecot:
    """(e) Cyrus IMAP 3 (tests/imap/servers/cyrus.py): "INBOX." prefix, "." separator."""
    require_cyrus()
    return server(dovecot_servers, "cyrus")


@pytest.fixture(params=["standard", "fallback"])
def any_dovecot(request: pytest.FixtureRequest, dovecot_servers: dict[str, Dovecot]) -> Dovecot:
    return server(dovecot_servers, request.param)
