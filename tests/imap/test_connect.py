"""manage.py connect_imap against Dovecot: verified login, folders by special-use flag
or a marked name guess, encrypted credentials, plan rules, TLS."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import Plan, Team
from inbox.models import AccountKind, MailAccount
from tests.imap.dovecot import Dovecot
from tests.ports import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def connect(user, *extra: str, port: int, security: str = "none", env: str = "IMAP_TEST_PASSWORD") -> str:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command(
        "connect_imap", user.address, "--host", "127.0.0.1", "--port", str(port), "--security", security,
        "--login", user.login, "--password-env", env, *extra, stdout=out,
    )  # fmt: skip
    return out.getvalue()


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.imap.dovecot import PASSWORD

    monkeypatch.setenv("IMAP_TEST_PASSWORD", PASSWORD)


def test_connect_personal_mailbox_finds_special_use_folders_and_prints_the_id(
    dovecot: Dovecot, alice, password_env
):
    mail_user = dovecot.add_user()

    output = connect(mail_user, "--user", alice.email, port=dovecot.port)

    account = MailAccount.objects.get(address=mail_user.address)
    assert output.strip().splitlines()[-1] == str(account.pk)
    assert account.kind == AccountKind.PERSONAL and account.owner == alice
    assert account.config["folders"] == {
        "inbox": "INBOX",
        "sent": "Sent",
        "archive": "Archive",
        "trash": "Trash",
    }
    assert account.config["folder_guessed"] == {"sent": False, "archive": False, "trash": False}
    assert account.credentials == {"password": mail_user.password}
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT credentials::text FROM inbox_mailaccount WHERE id = %s", [account.pk])
        assert mail_user.password not in cursor.fetchone()[0]


def test_folder_names_guessed_without_special_use_are_marked_as_guesses(
    dovecot_fallback: Dovecot, alice, password_env
):
    mail_user = dovecot_fallback.add_user()

    output = connect(mail_user, "--user", alice.email, port=dovecot_fallback.port)

    account = MailAccount.objects.get(address=mail_user.address)
    assert account.config["folders"] == {
        "inbox": "INBOX",
        "sent": "Sent Items",
        "archive": "Archives",
        "trash": "Deleted Items",
    }
    assert account.config["folder_guessed"] == {"sent": True, "archive": True, "trash": True}
    assert "Archive: Archives (guessed from its name)" in output


def test_connect_team_mailbox_for_a_team(dovecot: Dovecot, acme, alice, bob, password_env):
    team = Team.objects.create(company=acme, name="Sales")
    team.members.set([alice, bob])
    mail_user = dovecot.add_user()

    output = connect(mail_user, "--team", "Sales", port=dovecot.port)

    account = MailAccount.objects.get(address=mail_user.address)
    assert account.kind == AccountKind.TEAM and account.name == "Sales"
    assert set(account.members.all()) == {alice, bob}
    assert "shared mailbox of team Sales" in output


def test_connect_is_refused_on_the_lite_plan_before_contacting_the_server(acme, alice, password_env):
    acme.plan = Plan.LITE
    acme.save()

    class Nowhere:
        address = "alice@acme.test"
        login = "alice"

    with pytest.raises(CommandError, match=r"Lite plan\. Email sync is available on the Growth plan"):
        connect(Nowhere, port=free_port())
    assert not MailAccount.objects.exists()


def test_wrong_password_is_a_clear_error_and_stores_nothing(
    dovecot: Dovecot, alice, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("IMAP_TEST_PASSWORD", "not the password")
    mail_user = dovecot.add_user()

    with pytest.raises(CommandError, match="Login refused"):
        connect(mail_user, "--user", alice.email, port=dovecot.port)
    assert not MailAccount.objects.exists()


def test_missing_password_variable_is_a_clear_error(dovecot: Dovecot, alice, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("IMAP_TEST_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="IMAP_TEST_PASSWORD is not set"):
        connect(dovecot.add_user(), "--user", alice.email, port=dovecot.port)


def test_unreachable_server_is_a_clear_error(alice, password_env):
    class Somebody:
        address = "alice@acme.test"
        login = "alice"

    with pytest.raises(CommandError, match="Could not connect"):
        connect(Somebody, port=free_port())


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_connections_verify_the_server_certificate(
    dovecot: Dovecot, alice, password_env, security: str, monkeypatch: pytest.MonkeyPatch
):
    mail_user = dovecot.add_user()
    port = dovecot.tls_port if security == "ssl" else dovecot.port
    with pytest.raises(CommandError, match=r"TLS failed|certificate"):
        connect(mail_user, "--user", alice.email, port=port, security=security)

    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.ca_file))  # trust the test CA
    connect(mail_user, "--user", alice.email, port=port, security=security)

    account = MailAccount.objects.get(address=mail_user.address)
    assert account.config["security"] == security and account.config["port"] == port
