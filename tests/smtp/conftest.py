"""The SMTP server of the suite (tests/smtp/server.py) next to the IMAP tests' Dovecot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.tls import LocalCA, make_local_ca
from tests.imap.conftest import dovecot, dovecot_servers  # noqa: F401  (fixtures used here)
from tests.imap.dovecot import Dovecot
from tests.smtp.server import SmtpServer


@pytest.fixture(scope="session")
def smtp_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_local_ca(tmp_path_factory.mktemp("smtp-ca"))


@pytest.fixture
def smtp(smtp_ca: LocalCA, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:  # noqa: F811
    """STARTTLS + AUTH on a kernel-chosen loopback port, delivering into Dovecot; the app
    trusts the test CA through SSL_CERT_FILE (as it trusts the Dovecot one)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_ca.ca_file))
    server = SmtpServer(smtp_ca, dovecot).start()
    yield server
    server.stop()


@pytest.fixture
def smtps(smtp_ca: LocalCA, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:  # noqa: F811
    """The same with implicit TLS (port 465 style)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_ca.ca_file))
    server = SmtpServer(smtp_ca, dovecot, security="ssl").start()
    yield server
    server.stop()
