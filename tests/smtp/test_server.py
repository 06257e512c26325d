"""The test rig itself: the SMTP server asks for TLS and a login, and delivers into Dovecot."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from tests.imap.conftest import folder_ids
from tests.imap.dovecot import Dovecot
from tests.smtp.server import SmtpServer, client_context

pytestmark = [pytest.mark.dovecot]


def _message(sender: str, to: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, "Quote"
    message["Message-ID"] = message_id
    message.set_content("Hello")
    return message


def test_mail_after_starttls_and_login_lands_in_the_customers_dovecot_inbox(
    smtp: SmtpServer, dovecot: Dovecot
):
    rep, customer = dovecot.add_user("rep"), dovecot.add_user("customer")
    smtp.add_user(rep.login, "s3cret")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        client.starttls(context=client_context(smtp.ca))
        client.login(rep.login, "s3cret")
        client.send_message(_message(rep.login, customer.login, "<rig-1@app.test>"))
    with customer.client() as imap:
        assert folder_ids(imap, "INBOX") == ["<rig-1@app.test>"]
    assert smtp.received[0].login == rep.login


def test_login_is_refused_before_starttls_and_mail_before_login(smtp: SmtpServer, dovecot: Dovecot):
    rep = dovecot.add_user("rep")
    smtp.add_user(rep.login, "s3cret")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPException):
            client.login(rep.login, "s3cret")
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.sendmail(rep.login, ["x@example.test"], b"Subject: x\r\n\r\nx\r\n")
    assert smtp.received == []


def test_wrong_password_is_refused(smtp: SmtpServer, dovecot: Dovecot):
    rep = dovecot.add_user("rep")
    smtp.add_user(rep.login, "s3cret")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        client.starttls(context=client_context(smtp.ca))
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(rep.login, "wrong")


def test_implicit_tls_server_takes_a_login_and_delivers(smtps: SmtpServer, dovecot: Dovecot):
    rep, customer = dovecot.add_user("rep"), dovecot.add_user("customer")
    smtps.add_user(rep.login, "s3cret")
    with smtplib.SMTP_SSL(smtps.host, smtps.port, timeout=10, context=client_context(smtps.ca)) as client:
        client.login(rep.login, "s3cret")
        client.send_message(_message(rep.login, customer.login, "<rig-2@app.test>"))
    with customer.client() as imap:
        assert folder_ids(imap, "INBOX") == ["<rig-2@app.test>"]
