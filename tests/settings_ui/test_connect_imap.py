"""Connecting an IMAP mailbox from the settings page, checked by a real login against
Dovecot: good password, wrong password, unreachable server, TLS failure; plan rules refuse
before any server is contacted; team mailboxes by admins; reconnect after a re-auth."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Plan
from inbox.models import AccountKind, AccountStatus, MailAccount, Provider
from tests.imap.dovecot import PASSWORD, Dovecot, MailUser
from tests.ports import free_port, listening_socket
from tests.settings_ui.conftest import set_plan
from tests.settings_ui.test_settings_pages import html

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def form(mail_user: MailUser, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "address": mail_user.address,
        "host": "127.0.0.1",
        "port": mail_user.server.port,
        "security": "none",
        "login": mail_user.login,
        "password": mail_user.password,
        "kind": "personal",
    }
    data.update(overrides)
    return data


def post(client: Client, data: dict[str, object]):  # type: ignore[no-untyped-def]
    return client.post(reverse("connect:imap"), data)


@contextmanager
def listening_port():  # type: ignore[no-untyped-def]
    """A port that accepts TCP connections and tells whether anyone connected."""
    server = listening_socket(backlog=1)
    server.settimeout(0.3)
    contacted: list[bool] = []
    try:
        yield server.getsockname()[1], contacted
        try:
            conn, _ = server.accept()
            conn.close()
            contacted.append(True)
        except TimeoutError:
            pass
    finally:
        server.close()


def test_good_password_connects_the_mailbox_with_its_folders(as_alice: Client, alice, dovecot: Dovecot):
    mail_user = dovecot.add_user()

    response = post(as_alice, form(mail_user))

    account = MailAccount.objects.get(address=mail_user.address)
    assert response.status_code == 302
    assert response["Location"] == reverse("email_sync:status", args=[account.pk])
    assert (
        account.provider == Provider.IMAP and account.kind == AccountKind.PERSONAL and account.owner == alice
    )
    assert account.config["folders"] == {
        "inbox": "INBOX",
        "sent": "Sent",
        "archive": "Archive",
        "trash": "Trash",
    }
    assert account.config["host"] == "127.0.0.1" and account.config["port"] == dovecot.port
    assert account.credentials == {"password": PASSWORD}
    with connection.cursor() as cursor:  # the password is encrypted at rest
        cursor.execute("SELECT credentials::text FROM inbox_mailaccount WHERE id = %s", [account.pk])
        assert PASSWORD not in cursor.fetchone()[0]
    status_page = html(as_alice.get(response["Location"]))
    assert f"{mail_user.address} is connected" in status_page


def test_wrong_password_is_explained_and_nothing_is_stored(as_alice: Client, dovecot: Dovecot):
    mail_user = dovecot.add_user()

    response = post(as_alice, form(mail_user, password="not the password"))

    assert response.status_code == 400
    page = html(response)
    assert f"The server refused the login for {mail_user.login}: check the user name and password" in page
    assert "not the password" not in page  # the password is never echoed back
    assert f'value="{mail_user.address}"' in page  # the rest of the form is kept
    assert not MailAccount.objects.exists()


def test_unreachable_server_is_explained(as_alice: Client, dovecot: Dovecot):
    mail_user = dovecot.add_user()
    port = free_port()  # nothing listens there

    response = post(as_alice, form(mail_user, port=port))

    assert response.status_code == 400
    assert f"Nothing answers at 127.0.0.1:{port}: the server is unreachable there" in html(response)
    assert not MailAccount.objects.exists()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_failure_is_explained(as_alice: Client, dovecot: Dovecot, security: str):
    """Dovecot's certificate comes from a test CA nobody trusts: the handshake must fail."""
    mail_user = dovecot.add_user()
    port = dovecot.tls_port if security == "ssl" else dovecot.port

    response = post(as_alice, form(mail_user, port=port, security=security))

    assert response.status_code == 400
    assert "The secure connection to 127.0.0.1:" in html(response)
    assert "certificate could not be verified" in html(response)
    assert not MailAccount.objects.exists()


def test_tls_connection_works_once_the_certificate_is_trusted(
    as_alice: Client, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.ca_file))
    mail_user = dovecot.add_user()

    response = post(as_alice, form(mail_user, port=dovecot.tls_port, security="ssl"))

    assert response.status_code == 302
    assert MailAccount.objects.get(address=mail_user.address).config["security"] == "ssl"


def test_bad_form_input_is_shown_per_field(as_alice: Client):
    response = post(
        as_alice, {"address": "not-an-address", "host": "imap example", "port": 70000, "kind": "personal"}
    )

    assert response.status_code == 400
    page = html(response)
    assert "Enter a valid email address" in page and "Enter a server name" in page
    assert "This field is required" in page  # the password
    assert not MailAccount.objects.exists()


def test_on_lite_connecting_is_refused_before_the_server_is_contacted(as_alice: Client, acme):
    set_plan(acme, Plan.LITE)

    with listening_port() as (port, contacted):
        response = post(
            as_alice,
            {"address": "alice@acme.test", "host": "127.0.0.1", "port": port, "security": "none",
             "password": "x", "kind": "personal"},
        )  # fmt: skip

    assert response.status_code == 403
    assert "Email sync is available on the Growth plan and higher" in html(response)
    assert contacted == [] and not MailAccount.objects.exists()


def test_growth_plan_refuses_a_second_mailbox_before_contacting_the_server(
    as_alice: Client, acme, alice_mailbox
):
    set_plan(acme, Plan.GROWTH)

    with listening_port() as (port, contacted):
        response = post(
            as_alice,
            {"address": "alice2@acme.test", "host": "127.0.0.1", "port": port, "security": "none",
             "password": "x", "kind": "personal"},
        )  # fmt: skip

    assert response.status_code == 403
    assert "already has 1 connected mailbox, the most the Growth plan allows" in html(response)
    assert contacted == [] and MailAccount.objects.count() == 1


def test_growth_plan_refuses_team_mailboxes(as_alice: Client, acme, dovecot: Dovecot):
    set_plan(acme, Plan.GROWTH)
    mail_user = dovecot.add_user()

    response = post(as_alice, form(mail_user, kind="team", name="Sales"))

    assert response.status_code == 403
    assert "Shared team mailboxes are available on the Premium plan" in html(response)
    assert not MailAccount.objects.exists()


def test_admin_connects_a_team_mailbox_and_picks_its_members(
    as_alice: Client, as_bob: Client, as_carol: Client, alice, bob, dovecot: Dovecot
):
    mail_user = dovecot.add_user("team")

    response = post(as_alice, form(mail_user, kind="team", name="Sales", members=[bob.pk]))

    assert response.status_code == 302
    account = MailAccount.objects.get(address=mail_user.address)
    assert account.kind == AccountKind.TEAM and account.name == "Sales" and account.owner is None
    assert set(account.members.all()) == {bob}
    assert mail_user.address in html(as_bob.get(reverse("email_sync:general")))
    assert as_carol.get(reverse("email_sync:status", args=[account.pk])).status_code == 404


def test_bob_cannot_connect_a_team_mailbox(as_bob: Client, bob, dovecot: Dovecot):
    mail_user = dovecot.add_user("team")

    response = post(as_bob, form(mail_user, kind="team", name="Sales", members=[bob.pk]))

    assert response.status_code == 400  # the choice is not offered to him
    assert not MailAccount.objects.exists()
    assert "A shared team mailbox" not in html(as_bob.get(reverse("connect:page")))


def test_an_address_someone_else_connected_is_refused(as_bob: Client, dovecot: Dovecot, alice):
    mail_user = dovecot.add_user()
    MailAccount.objects.create(
        company=alice.company, kind="personal", owner=alice, provider="imap", address=mail_user.address
    )

    response = post(as_bob, form(mail_user))

    assert response.status_code == 400
    assert "already connected in your company by someone else" in html(response)


def test_reconnect_after_a_refused_login_keeps_the_mailbox(as_alice: Client, alice, dovecot: Dovecot):
    mail_user = dovecot.add_user()
    post(as_alice, form(mail_user))
    account = MailAccount.objects.get(address=mail_user.address)
    MailAccount.objects.filter(pk=account.pk).update(
        status=AccountStatus.NEEDS_REAUTH, status_reason="login refused", credentials={"password": "old"}
    )

    page = html(as_alice.get(reverse("connect:page") + f"?account={account.pk}"))
    assert f"Reconnect {mail_user.address}" in page
    assert f'value="{dovecot.port}"' in page and f'value="{mail_user.login}"' in page
    assert "Connect Google" not in page

    bad = post(as_alice, form(mail_user, password="still wrong", account=account.pk))
    assert bad.status_code == 400
    good = post(as_alice, form(mail_user, account=account.pk, address="ignored@elsewhere.test"))

    assert good.status_code == 302
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE and account.status_reason == ""
    assert account.credentials == {"password": PASSWORD} and account.address == mail_user.address
    assert MailAccount.objects.count() == 1


def test_bob_cannot_reconnect_alices_mailbox(as_bob: Client, alice_mailbox, dovecot: Dovecot):
    mail_user = dovecot.add_user()

    response = post(as_bob, form(mail_user, account=alice_mailbox.pk))

    assert response.status_code == 404
    assert as_bob.get(reverse("connect:page") + f"?account={alice_mailbox.pk}").status_code == 404
