from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from accounts.models import Company, Plan, Role, User
from inbox.models import MailAccount
from tests.browser_fixtures import browser, open_as  # noqa: F401  (registered once for every package)
from tests.factories import CompanyFactory, UserFactory, personal_account, team_account
from tests.fakes.recording import RecordingAdapter

pytest_plugins = ["tests.plugins.tiers", "tests.plugins.parallel", "tests.plugins.servers"]


def pytest_configure(config: pytest.Config) -> None:
    # Tests render templates with DEBUG off but never run collectstatic: name the source
    # files as they are. The hashed manifest storage of production is exercised by the
    # production smoke test (tests/production), which runs collectstatic as the image does.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # WhiteNoise warns about a STATIC_ROOT that does not exist yet.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _no_parse_workers_outlive_a_test() -> Iterator[None]:
    # A test whose pull parsed a big group forked the MIME parse pool; its workers would hold
    # copies of this process's pipe to the browser driver, and the driver, never seeing that
    # pipe close, kept the suite's end waiting (sync/parse_pool.py, shutdown).
    yield
    from sync import parse_pool

    parse_pool.shutdown()


@pytest.fixture
def ingests(monkeypatch):  # type: ignore[no-untyped-def]
    """The sizes of the bulk ingests a pull made (``sync.store``), and how many messages it
    ingested one by one."""
    from sync import store

    seen: dict[str, list[int]] = {"bulk": [], "single": []}
    bulk, single = store.ingest_messages, store.ingest_message

    def counting_bulk(account, items):  # type: ignore[no-untyped-def]
        seen["bulk"].append(len(items))
        return bulk(account, items)

    def counting_single(account, parsed, ref):  # type: ignore[no-untyped-def]
        seen["single"].append(1)
        return single(account, parsed, ref)

    monkeypatch.setattr(store, "ingest_messages", counting_bulk)
    monkeypatch.setattr(store, "ingest_message", counting_single)
    return seen


@pytest.fixture
def acme(db) -> Company:  # type: ignore[no-untyped-def]
    return CompanyFactory(name="Acme", plan=Plan.PREMIUM)


@pytest.fixture
def alice(acme: Company) -> User:
    """Company admin at Acme."""
    return UserFactory(email="alice@acme.test", company=acme, role=Role.ADMIN)


@pytest.fixture
def bob(acme: Company) -> User:
    """Alice's teammate, a regular user."""
    return UserFactory(email="bob@acme.test", company=acme, role=Role.REGULAR)


@pytest.fixture
def carol(db) -> User:  # type: ignore[no-untyped-def]
    """Works for another company: must never see Acme's data."""
    return UserFactory(email="carol@globex.test", company=CompanyFactory(name="Globex"), role=Role.ADMIN)


@pytest.fixture
def alice_mailbox(alice: User) -> MailAccount:
    return personal_account(alice)


@pytest.fixture
def bob_mailbox(bob: User) -> MailAccount:
    return personal_account(bob)


@pytest.fixture
def carol_mailbox(carol: User) -> MailAccount:
    return personal_account(carol)


@pytest.fixture
def recording() -> Iterator[type[RecordingAdapter]]:
    """IMAP pushes go to tests/fakes/recording.RecordingAdapter (scripted answers, calls
    recorded), with nothing recorded or scripted before or after the test."""
    RecordingAdapter.reset()
    with override_settings(SYNC_ADAPTERS={"imap": "tests.fakes.recording.RecordingAdapter"}):
        yield RecordingAdapter
    RecordingAdapter.reset()


@pytest.fixture
def sales_mailbox(acme: Company, alice: User, bob: User) -> MailAccount:
    return team_account(acme, [alice, bob])
