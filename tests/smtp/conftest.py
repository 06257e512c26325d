"""The SMTP server of the suite (tests/smtp/server.py) next to the IMAP tests' Dovecot."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest

from tests.fakes.tls import LocalCA, make_local_ca
from tests.imap.conftest import ImapSetup, folder_ids, imap  # noqa: F401  (imap: a fixture used here)
from tests.imap.dovecot import Dovecot, MailUser, make_message
from tests.smtp.server import SmtpServer


@pytest.fixture(scope="session")
def smtp_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_local_ca(tmp_path_factory.mktemp("smtp-ca"))


@pytest.fixture
def smtp(smtp_ca: LocalCA, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """STARTTLS + AUTH on a kernel-chosen loopback port, delivering into Dovecot; the app
    trusts the test CA through SSL_CERT_FILE (as it trusts the Dovecot one)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_ca.ca_file))
    server = SmtpServer(smtp_ca, dovecot).start()
    yield server
    server.stop()


@pytest.fixture
def smtps(smtp_ca: LocalCA, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """The same with implicit TLS (port 465 style)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_ca.ca_file))
    server = SmtpServer(smtp_ca, dovecot, security="ssl").start()
    yield server
    server.stop()


@dataclass
class Sending:
    """Alice's IMAP mailbox with its SMTP server, and a customer with a Dovecot mailbox."""

    rep: ImapSetup
    customer: MailUser
    smtp: SmtpServer

    def customer_ids(self) -> list[str]:
        with self.customer.client() as client:
            return folder_ids(client, "INBOX")

    def customer_message(self, message_id: str) -> email.message.Message:
        with self.customer.client() as client:
            client.select_folder("INBOX", readonly=True)
            uids = client.search(["HEADER", "Message-ID", message_id])
            assert len(uids) == 1, f"{message_id} is {len(uids)} times in the customer's INBOX"
            raw = client.fetch(uids, ["RFC822"])[uids[0]][b"RFC822"]
        return email.message_from_bytes(raw, policy=email.policy.default)

    def answer(self, message_id: str, *, body: str = "Sounds good") -> str:
        """The customer answers the message in their own mail client."""
        original = self.customer_message(message_id)
        references = f"{original.get('References', '')} {message_id}".strip()
        answer_id, raw = make_message(
            subject=f"Re: {original['Subject']}",
            sender=self.customer.login,
            to=self.rep.account.address,
            in_reply_to=message_id,
            references=references,
            body=body,
            date=datetime.now().astimezone(),
        )
        self.rep.append("inbox", raw)
        return answer_id


def add_smtp(setup: ImapSetup, server: SmtpServer) -> None:
    """Give the mailbox an SMTP server (as connecting does: config + encrypted password)."""
    server.add_user(setup.user.login, setup.user.password)
    account = setup.account
    account.config = {**account.config, "smtp": server.account_config(setup.user.login)}
    account.credentials = {**account.credentials, "smtp_password": setup.user.password}
    account.save(update_fields=["config", "credentials"])


@pytest.fixture
def sending(imap: ImapSetup, smtp: SmtpServer, dovecot: Dovecot) -> Sending:  # noqa: F811
    add_smtp(imap, smtp)
    return Sending(imap, dovecot.add_user("customer"), smtp)
