"""Gmail tests: the real google-api-python-client and google-auth against the fake Gmail
server in tests/fakes/gmail_server.py (one per test session, reset for every test)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from accounts.models import Company, User
from inbox.models import MailAccount, Provider
from sync.providers.gmail import client as gmail_client
from tests.factories import personal_account, switches, team_account
from tests.fakes.gmail_server import FakeGmail, Mailbox, MessageFactory


@pytest.fixture(scope="session")
def gmail_server() -> Iterator[FakeGmail]:
    server = FakeGmail().start()
    yield server
    server.stop()


@pytest.fixture
def gmail(gmail_server: FakeGmail, settings, monkeypatch) -> FakeGmail:  # type: ignore[no-untyped-def]
    gmail_server.reset()
    # The fake has no quota: no waiting for one (test_gmail_quota_pacing.py paces on a fake clock).
    monkeypatch.setattr(gmail_client, "QUOTA_UNITS_PER_SECOND", 0.0)
    settings.GMAIL_API_ENDPOINT = gmail_server.api_endpoint
    settings.GOOGLE_TOKEN_URI = gmail_server.token_uri
    settings.GOOGLE_CLIENT_ID = FakeGmail.client_id
    settings.GOOGLE_CLIENT_SECRET = FakeGmail.client_secret
    return gmail_server


@pytest.fixture
def mail() -> MessageFactory:
    return MessageFactory()


def connect(server: FakeGmail, account: MailAccount, **credentials: object) -> Mailbox:
    """A Gmail mailbox at the fake, and its refresh token stored on the account."""
    mailbox = server.add_mailbox(account.address)
    account.credentials = {"refresh_token": mailbox.refresh_token, **credentials}
    account.save(update_fields=["credentials"])
    return mailbox


@dataclass
class GmailSetup:
    """One synced Gmail account, the person acting on it, and how to flip its switches."""

    account: MailAccount
    mailbox: Mailbox
    actor: User
    kind: str

    def switches(self, *, archive: bool = False, delete: bool = False) -> None:
        if self.kind == "personal":
            switches(self.actor, archive=archive, delete=delete)
        else:
            self.account.archive_in_provider = archive
            self.account.delete_in_provider = delete
            self.account.save(update_fields=["archive_in_provider", "delete_in_provider"])


@pytest.fixture
def alice_gmail(gmail: FakeGmail, alice: User) -> GmailSetup:
    account = personal_account(alice, provider=Provider.GMAIL)
    return GmailSetup(account, connect(gmail, account), alice, "personal")


@pytest.fixture
def sales_gmail(gmail: FakeGmail, acme: Company, alice: User, bob: User) -> GmailSetup:
    # bob, a regular member, acts on the shared mailbox; its own switches apply.
    account = team_account(acme, [alice, bob], provider=Provider.GMAIL, address="sales@acme.test")
    return GmailSetup(account, connect(gmail, account), bob, "team")


@pytest.fixture(params=["personal", "team"])
def setup(request: pytest.FixtureRequest) -> GmailSetup:
    """Every sync-table test runs for alice's own Gmail and for the shared team Gmail."""
    name = "alice_gmail" if request.param == "personal" else "sales_gmail"
    return request.getfixturevalue(name)
