"""The outgoing server of an IMAP mailbox, on the connect form: checked by a real login on
the suite's SMTP server, stored with its password encrypted; guessed when left empty."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from inbox.models import MailAccount
from sync.providers.imap.smtp import SmtpSettings, guess_smtp
from tests.imap.dovecot import Dovecot
from tests.smtp.server import SmtpServer

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def _post(client: Client, dovecot: Dovecot, login: str, **smtp: object):  # type: ignore[no-untyped-def]
    data = {
        "address": login,
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "none",
        "login": login,
        "password": "correct horse battery staple",
        "kind": "personal",
        **smtp,
    }
    return client.post(reverse("connect:imap"), data)


def test_connect_checks_the_smtp_login_and_stores_its_password_encrypted(
    client: Client, alice, dovecot: Dovecot, smtp: SmtpServer
):
    rep = dovecot.add_user("rep")
    smtp.add_user(rep.login, "smtp-only-s3cret")
    client.force_login(alice)

    response = _post(
        client, dovecot, rep.login, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="starttls",
        smtp_password="smtp-only-s3cret",
    )  # fmt: skip

    assert response.status_code == 302, response.content.decode()[:2000]
    account = MailAccount.objects.get(address=rep.login)
    assert account.config["smtp"] == {
        "host": "127.0.0.1", "port": smtp.port, "security": "starttls",
        "login": rep.login, "files_sent": False,
    }  # fmt: skip
    assert account.credentials["smtp_password"] == "smtp-only-s3cret"
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials::text FROM inbox_mailaccount WHERE id = %s", [account.pk])
        assert "smtp-only-s3cret" not in cursor.fetchone()[0]


def test_a_refused_smtp_login_is_a_clear_error_and_nothing_is_stored(
    client: Client, alice, dovecot: Dovecot, smtp: SmtpServer
):
    rep = dovecot.add_user("rep")
    smtp.add_user(rep.login, "right")
    client.force_login(alice)

    response = _post(
        client, dovecot, rep.login, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="starttls",
        smtp_password="wrong",
    )  # fmt: skip

    assert response.status_code == 400
    assert "did not accept the login" in response.content.decode()
    assert not MailAccount.objects.filter(address=rep.login).exists()


def test_smtp_is_guessed_from_the_imap_host():
    assert guess_smtp("imap.example.com", "ann")[:2] == [
        SmtpSettings("smtp.example.com", 587, "starttls", "ann"),
        SmtpSettings("smtp.example.com", 465, "ssl", "ann"),
    ]
    (gmail,) = guess_smtp("imap.gmail.com", "ann@gmail.com")
    assert gmail.host == "smtp.gmail.com" and gmail.files_sent  # Gmail files sent mail itself
    assert guess_smtp("mail.example.org", "ann")[0].host == "smtp.example.org"
