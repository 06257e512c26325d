"""Fixtures for the Email sync settings, connect flows and admin tests: a logged-in test
client per persona, the real Dovecot of tests/imap, a fake Google (tests/fakes' Gmail
server plus authorize and code exchange) and the fake Microsoft identity platform."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.test import Client

from accounts.models import Company, Plan, User
from sync.providers.outlook import auth as graph_auth
from tests.fakes.graph_server import FakeMicrosoft
from tests.fakes.tls import LocalCA, make_local_ca
from tests.imap.conftest import dovecot, dovecot_servers  # noqa: F401  (shared fixtures)
from tests.settings_ui.fake_google import FakeGoogle


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_alice(alice: User) -> Client:
    return login(alice)


@pytest.fixture
def as_bob(bob: User) -> Client:
    return login(bob)


@pytest.fixture
def as_carol(carol: User) -> Client:
    return login(carol)


def set_plan(company: Company, plan: Plan) -> None:
    company.plan = plan
    company.save(update_fields=["plan"])


@pytest.fixture(scope="session")
def google_server() -> Iterator[FakeGoogle]:
    server = FakeGoogle().start()
    yield server
    server.stop()


@pytest.fixture
def google(google_server: FakeGoogle, settings) -> FakeGoogle:  # type: ignore[no-untyped-def]
    """The fake Google, emptied, with the app's Google settings pointing at it."""
    google_server.reset()
    settings.GOOGLE_CLIENT_ID = FakeGoogle.client_id
    settings.GOOGLE_CLIENT_SECRET = FakeGoogle.client_secret
    settings.GOOGLE_AUTH_URI = google_server.auth_uri
    settings.GOOGLE_TOKEN_URI = google_server.token_uri
    settings.GMAIL_API_ENDPOINT = google_server.api_endpoint
    return google_server


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ms_ports() -> tuple[int, int]:
    """Two free ports of this suite's range (14600-14699): several test sessions (CI, a
    developer's run, xdist workers) may run on one machine at once."""
    for base in range(14600, 14698, 2):
        if _free(base) and _free(base + 1):
            return base, base + 1
    raise RuntimeError("no two free ports in 14600-14699 for the fake Microsoft")


@pytest.fixture(scope="session")
def settings_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_local_ca(tmp_path_factory.mktemp("settings-ca"))


@pytest.fixture(scope="session")
def microsoft_server(settings_ca: LocalCA) -> Iterator[FakeMicrosoft]:
    fake = FakeMicrosoft(settings_ca, ports=_ms_ports()).start()
    yield fake
    fake.stop()


@pytest.fixture
def microsoft(microsoft_server: FakeMicrosoft, settings_ca: LocalCA, settings) -> Iterator[FakeMicrosoft]:  # type: ignore[no-untyped-def]
    microsoft_server.reset()
    graph_auth._HTTP_CACHE.clear()
    settings.MS_CLIENT_ID = microsoft_server.client_id
    settings.MS_CLIENT_SECRET = microsoft_server.client_secret
    settings.MS_AUTHORITY = microsoft_server.authority
    settings.GRAPH_API_ENDPOINT = microsoft_server.graph_endpoint
    settings.MS_CA_BUNDLE = str(settings_ca.ca_file)
    yield microsoft_server
    graph_auth._HTTP_CACHE.clear()


@pytest.fixture
def no_oauth(settings) -> None:  # type: ignore[no-untyped-def]
    """Neither Google nor Microsoft configured (the default of a fresh install)."""
    settings.GOOGLE_CLIENT_ID = settings.GOOGLE_CLIENT_SECRET = ""
    settings.MS_CLIENT_ID = settings.MS_CLIENT_SECRET = ""
