"""Mailbox secrets (IMAP passwords, OAuth tokens) never leave their encrypted column:
not in a dump of the whole database, not in log records, not on any page or API response
the owner can open, not in the admin, not on a 500 page nor in the error report Django
would mail to ADMINS (or hand to an error tracker).

The IMAP password is the real one Dovecot checks: the mailbox is connected through the
connect form and synced, so every code path that touches it runs.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
from typing import Any

import pytest
from django.core.signals import got_request_exception
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.views.debug import ExceptionReporter

from inbox.models import MailAccount, Provider
from sync.pull import pull_account
from tests.factories import parsed, personal_account, receive
from tests.imap.dovecot import PASSWORD as IMAP_PASSWORD

ACCESS_TOKEN = "ya29.SECRET-access-token-8812"
REFRESH_TOKEN = "1//SECRET-refresh-token-4471"
WRONG_PASSWORD = "SECRET-wrong-imap-password-5521"
SECRETS = (IMAP_PASSWORD, ACCESS_TOKEN, REFRESH_TOKEN, WRONG_PASSWORD)


def _forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, raw.hex(), base64.b64encode(raw).decode(), secret.replace(" ", "+")]


def _assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        for form in _forms(secret):
            assert form not in text, f"{secret!r} found in {where}"


def _gmail_account(user) -> MailAccount:  # type: ignore[no-untyped-def]
    account = personal_account(user, provider=Provider.GMAIL, address="alice@gmail.test")
    account.credentials = {"access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN, "expiry": 0}
    account.save()
    return account


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


@pytest.mark.dovecot
@pytest.mark.django_db(transaction=True)
def test_connect_sync_and_a_refused_login_leave_no_secret_in_the_database_dump_or_logs(
    alice, dovecot, caplog, settings
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    caplog.set_level(logging.DEBUG)  # imapclient logs every command at DEBUG
    mail_user = dovecot.add_user("rep")
    client = Client()
    client.force_login(alice)
    response = client.post(
        reverse("connect:imap"),
        {
            "address": mail_user.address,
            "host": "127.0.0.1",
            "port": mail_user.server.port,
            "security": "none",
            "login": mail_user.login,
            "password": mail_user.password,
            "kind": "personal",
        },
    )
    assert response.status_code == 302, response.content[:500]
    account = MailAccount.objects.get(address=mail_user.address)
    assert account.credentials == {"password": IMAP_PASSWORD}
    raw = b"From: dana@client.test\r\nSubject: hi\r\nMessage-ID: <s1@x>\r\n\r\nhello\r\n"
    mail_user.client().append("INBOX", raw)
    assert pull_account(account.pk).report.created == 1  # type: ignore[union-attr]

    # A password that Dovecot refuses: the account needs re-auth, the error is recorded.
    account.credentials = {"password": WRONG_PASSWORD}
    account.save()
    failed = pull_account(account.pk)
    account.refresh_from_db()
    assert failed.error or account.status != "active"
    _gmail_account(alice)

    logs = _log_text(caplog)
    assert "LOGIN" in logs.upper() or "imapclient" in logs  # the IMAP conversation was logged
    _assert_no_secret(logs, "log records")

    db = connection.settings_dict
    dump = subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "-h",
            db["HOST"] or "127.0.0.1",
            "-p",
            str(db["PORT"] or 5432),
            "-U",
            db["USER"] or "postgres",
            db["NAME"],
        ],
        capture_output=True,
        check=True,
        text=True,
        errors="replace",
    ).stdout
    assert mail_user.address in dump and "inbox_mailaccount" in dump  # the dump has the rows
    _assert_no_secret(dump, "pg_dump of the database")


# -- every page and API response the owner can open ----------------------------------------

_SKIP_PREFIXES = ("admin/", "accounts/")  # the admin is swept below; allauth pages hold no mailbox


def _patterns() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []

    def walk(resolver: URLResolver, namespace: str, prefix: str) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                path = prefix + str(entry.pattern)
                if path.startswith(_SKIP_PREFIXES):
                    continue
                walk(entry, ":".join(filter(None, [namespace, entry.namespace or ""])), path)
            elif isinstance(entry, URLPattern) and entry.name:
                name = f"{namespace}:{entry.name}" if namespace else entry.name
                params = [p for p in getattr(entry.pattern, "converters", {}) if p not in entry.default_args]
                found.append((name, params))

    walk(get_resolver(), "", "")
    return found


@pytest.mark.django_db
@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_no_page_or_api_response_of_the_owner_shows_a_secret(alice, acme, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from api.tokens import issue_token
    from tests.factories import DealFactory

    imap_account = personal_account(alice)
    imap_account.credentials = {"password": IMAP_PASSWORD}
    imap_account.last_error = "The server refused the login"
    imap_account.save()
    gmail = _gmail_account(alice)
    result = receive(imap_account, parsed(subject="pricing", to=(imap_account.address,)))
    receive(gmail, parsed(subject="gmail one", to=(gmail.address,)))
    deal = DealFactory(company=acme, title="Big deal")
    values: dict[str, Any] = {
        "conversation_id": result.conversation_id,
        "thread_id": result.conversation_id,
        "message_id": result.message_id,
        "account_id": imap_account.pk,
        "deal_id": deal.pk,
        "object_id": deal.pk,
        "kind": "deal",
        "folder": "inbox",
    }
    session = Client()
    session.force_login(alice)
    token = issue_token(alice)
    opened = 0
    for name, params in _patterns():
        if any(p not in values for p in params):
            continue
        try:
            url = reverse(name, kwargs={p: values[p] for p in params})
        except Exception:  # noqa: S112 (a pattern whose converter refuses these values)
            continue
        for account_id in (imap_account.pk, gmail.pk):
            if "account_id" in params:
                url = reverse(name, kwargs={**{p: values[p] for p in params}, "account_id": account_id})
            response = session.get(url + (f"?api_token={token}" if name.startswith("api:") else ""))
            _assert_no_secret(response.content.decode(errors="replace"), f"GET {url}")
            opened += response.status_code == 200
    assert opened > 20


@pytest.mark.django_db
def test_the_admin_mailbox_pages_show_no_secret(alice, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from tests.factories import UserFactory

    imap_account = personal_account(alice)
    imap_account.credentials = {"password": IMAP_PASSWORD}
    imap_account.save()
    gmail = _gmail_account(alice)
    operator = UserFactory(email="ops@host.test", company=None, is_staff=True, is_superuser=True)
    for user in (alice, operator):
        client = Client()
        client.force_login(user)
        changelist = reverse("admin:inbox_mailaccount_changelist")
        pages = [changelist, changelist + "?q=a"]
        for account in (imap_account, gmail):
            for view in ("change", "history", "delete"):
                pages.append(reverse(f"admin:inbox_mailaccount_{view}", args=[account.pk]))
        for page in pages:
            response = client.get(page)
            assert response.status_code in (200, 302, 403), page  # delete is refused to company admins
            _assert_no_secret(response.content.decode(), f"admin {page} as {user.email}")


# -- a crash while a secret is in hand ---------------------------------------------------------


@pytest.mark.django_db
def test_a_500_while_connecting_shows_no_secret_on_the_page_in_the_logs_or_the_error_report(
    alice, settings, caplog, monkeypatch
):
    settings.DEBUG = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    caplog.set_level(logging.DEBUG)

    def crashing_verify(*, host: str, port: int, security: str, login: str, password: str) -> None:
        credentials = {"password": password}  # what a real crash deep in a provider has in hand
        raise RuntimeError(f"unexpected failure talking to {host} ({len(credentials)})")

    monkeypatch.setattr("sync.connect.verify_mailbox", crashing_verify)
    reports: list[str] = []

    def report(sender: object, request: Any, **kwargs: object) -> None:
        # What AdminEmailHandler (ADMINS) or an error tracker would be given for this request.
        reporter = ExceptionReporter(request, *sys.exc_info(), is_email=True)
        reports.extend([reporter.get_traceback_text(), reporter.get_traceback_html()])

    got_request_exception.connect(report)
    try:
        client = Client(raise_request_exception=False)
        client.force_login(alice)
        response = client.post(
            reverse("connect:imap"),
            {
                "address": "rep@imap.test",
                "host": "127.0.0.1",
                "port": 1143,
                "security": "none",
                "login": "rep@imap.test",
                "password": IMAP_PASSWORD,
                "kind": "personal",
            },
        )
    finally:
        got_request_exception.disconnect(report)
    assert response.status_code == 500
    _assert_no_secret(response.content.decode(), "the 500 page")
    _assert_no_secret(_log_text(caplog), "log records")
    assert len(reports) == 2 and "crashing_verify" in reports[0]  # the report has the frames
    for text in reports:
        _assert_no_secret(text, "the error report")
