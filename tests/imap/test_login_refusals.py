"""What a refused IMAP LOGIN means: only an answer about the credentials asks the user to
reconnect; a busy, throttling or restarting server is retried with backoff.

The answers are those real servers give (Dovecot, Gmail, Exchange, Cyrus), played by a tiny
IMAP server on 127.0.0.1 that greets, then answers LOGIN with the given line; the end-to-end
tests use the suite's Dovecot behind its fault proxy.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import pytest

from inbox import services
from inbox.models import AccountStatus, ChangeStatus, Conversation, MailAccount
from sync.errors import ProviderAuthError, ProviderTemporaryError
from sync.providers.imap import verify_mailbox
from sync.pull import pull_account
from sync.push import push_account
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot

GREETING = b"* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] Fake IMAP ready.\r\n"


class _LoginRefuser(socketserver.StreamRequestHandler):
    answer: bytes = b"NO [UNAVAILABLE] Try later."  # set per server; b"" drops the connection

    def handle(self) -> None:
        self.wfile.write(getattr(self.server, "greeting", GREETING))
        while line := self.rfile.readline():
            tag, _, rest = line.partition(b" ")
            verb = rest.split(b" ", 1)[0].strip().upper()
            if verb == b"CAPABILITY":
                self.wfile.write(b"* CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
            elif verb == b"LOGIN":
                if not self.server.answer:  # type: ignore[attr-defined]
                    return  # the server goes away mid-LOGIN
                self.wfile.write(tag + b" " + self.server.answer + b"\r\n")  # type: ignore[attr-defined]
            elif verb == b"LOGOUT":
                self.wfile.write(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                return
            else:
                self.wfile.write(tag + b" BAD not here\r\n")


@pytest.fixture
def refusing_server() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _LoginRefuser)
    server.daemon_threads = True
    server.answer = b""  # type: ignore[attr-defined]
    # shutdown() waits for serve_forever's next poll: 0.5 s by default, on every test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _login(server: socketserver.ThreadingTCPServer, answer: bytes) -> None:
    server.answer = answer  # type: ignore[attr-defined]
    verify_mailbox(
        host="127.0.0.1", port=server.server_address[1], security="none", login="rep", password="secret"
    )


@pytest.mark.parametrize(
    "answer",
    [
        b"NO [UNAVAILABLE] Temporary authentication failure.",  # Dovecot, auth backend down
        b"NO [ALERT] Too many simultaneous connections. (Failure)",  # Gmail
        b"NO [THROTTLED] Slow down.",
        b"NO [LIMIT] Connection limit reached.",
        b"NO [INUSE] Mailbox is locked by another session.",
        b"NO [SERVERBUG] Internal error occurred.",
        b"NO Server busy, try again later.",  # no code, no word about the password
        b"NO Something went wrong.",  # unknown and code-less: not a reason to stop syncing
    ],
)
def test_a_busy_or_throttling_server_at_login_is_retried_later(refusing_server, answer: bytes):  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderTemporaryError, match="temporarily refused"):
        _login(refusing_server, answer)


@pytest.mark.parametrize(
    "answer",
    [
        b"NO [AUTHENTICATIONFAILED] Authentication failed.",  # Dovecot, Gmail
        b"NO [AUTHORIZATIONFAILED] Not allowed to log in as that user.",
        b"NO [EXPIRED] Your password has expired.",
        b"NO LOGIN failed.",  # Exchange / Outlook.com: a wrong password, without a code
        b"NO Invalid credentials (Failure)",
        b"NO [ALERT] Application-specific password required: https://support.google.com/",  # Gmail
    ],
)
def test_a_refused_password_needs_reauthentication(refusing_server, answer: bytes):  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderAuthError, match="refused the login"):
        _login(refusing_server, answer)


def test_a_connection_dropped_during_login_is_retried_later(refusing_server):  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderTemporaryError):
        _login(refusing_server, b"")


def test_a_server_greeting_with_bye_while_shutting_down_is_retried_later(refusing_server):  # type: ignore[no-untyped-def]
    # Dovecot stopping answers a new connection with a BYE greeting; imaplib raises its plain
    # error for it (not an abort), which must not fail the user's change for good.
    refusing_server.greeting = b"* BYE Shutting down\r\n"
    with pytest.raises(ProviderTemporaryError, match="Shutting down"):
        _login(refusing_server, b"NO [UNAVAILABLE] unused")


# --- end to end, on the suite's Dovecot behind the fault proxy --------------------------------


@pytest.fixture
def faulty(dovecot_faulty: Dovecot, acme, alice, bob) -> Iterator[ImapSetup]:  # type: ignore[no-untyped-def]
    setup = make_setup(dovecot_faulty, "personal", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


@pytest.mark.django_db
@pytest.mark.dovecot
def test_login_unavailable_keeps_the_mailbox_syncing_and_shows_the_reason(faulty: ImapSetup):
    question = faulty.deliver(subject="Throttled")
    proxy = faulty.user.server.proxy
    assert proxy is not None
    proxy.refuse_login("UNAVAILABLE", times=1)

    summary = pull_account(faulty.account.pk)

    account = MailAccount.objects.get(pk=faulty.account.pk)
    assert "temporarily refused" in summary.error
    assert account.status == AccountStatus.ACTIVE
    assert account.last_sync_error.startswith("temporary:") and "[UNAVAILABLE]" in account.last_sync_error
    faulty.pull()  # the refusal has passed: the next pull brings the mail
    assert Conversation.objects.filter(account=faulty.account, messages__message_id=question).exists()


@pytest.mark.django_db
@pytest.mark.dovecot
def test_login_throttled_during_a_push_retries_the_change_instead_of_asking_to_reconnect(faulty: ImapSetup):
    faulty.deliver(subject="Later, please")
    faulty.pull()
    faulty.switches(archive=True)
    conversation = Conversation.objects.get(account=faulty.account, subject="Later, please")
    (change,) = services.archive_conversations(faulty.actor, [conversation.pk]).changes
    proxy = faulty.user.server.proxy
    assert proxy is not None
    proxy.refuse_login("THROTTLED", times=1)

    summary = push_account(faulty.account.pk)

    change.refresh_from_db()
    assert summary.retrying == 1 and change.status == ChangeStatus.PENDING
    assert MailAccount.objects.get(pk=faulty.account.pk).status == AccountStatus.ACTIVE
    assert "[THROTTLED]" in change.last_error


@pytest.mark.django_db
@pytest.mark.dovecot
def test_a_temporary_login_refusal_is_shown_on_the_status_page(faulty: ImapSetup, alice):  # type: ignore[no-untyped-def]
    from django.test import Client
    from django.urls import reverse

    faulty.deliver(subject="Synced once")
    faulty.pull()
    proxy = faulty.user.server.proxy
    assert proxy is not None
    proxy.refuse_login("UNAVAILABLE", times=1)
    pull_account(faulty.account.pk)
    client = Client()
    client.force_login(alice)

    page = client.get(reverse("email_sync:status", kwargs={"account_id": faulty.account.pk}))

    text = page.content.decode()
    assert page.status_code == 200 and 'data-state="active"' in text
    assert "temporarily refused" in text and "[UNAVAILABLE]" in text
