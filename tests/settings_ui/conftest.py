"""Fixtures for the Email sync settings, connect flows and admin tests: a logged-in test
client per persona, the real Dovecot of tests/imap, a fake Google (tests/fakes' Gmail
server plus authorize and code exchange). The fake Microsoft (``ms``) and Dovecot come from
tests/plugins/servers.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from accounts.models import Company, Plan, User
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


@pytest.fixture
def no_oauth(settings) -> None:  # type: ignore[no-untyped-def]
    """Neither Google nor Microsoft configured (the default of a fresh install)."""
    settings.GOOGLE_CLIENT_ID = settings.GOOGLE_CLIENT_SECRET = ""
    settings.MS_CLIENT_ID = settings.MS_CLIENT_SECRET = ""
