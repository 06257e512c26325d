"""OAuth for Gmail: google-auth refreshes tokens at the fake token endpoint; refreshed
tokens are kept (encrypted); a revoked grant marks the account for reconnecting and loses
no change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from inbox import services
from inbox.models import AccountStatus, ChangeStatus, MailAccount, ProviderChange
from sync.providers.gmail import GmailAdapter
from sync.pull import pull_account
from sync.push import push_account
from tests.gmail.helpers import seeded

pytestmark = pytest.mark.django_db


def _stored(account: MailAccount) -> dict:  # type: ignore[type-arg]
    return MailAccount.objects.get(pk=account.pk).credentials


def test_an_expired_access_token_is_refreshed_once_and_kept(gmail, alice_gmail, mail):
    account = alice_gmail.account
    account.credentials = {
        **account.credentials,
        "access_token": "ya29.stale",
        "expiry": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    }
    account.save(update_fields=["credentials"])
    raw, _ = mail.make(to=account.address)
    alice_gmail.mailbox.deliver(raw)

    before = datetime.now(UTC)
    assert not pull_account(account.pk).error
    stored = _stored(account)
    assert gmail.count("token") == 1
    assert stored["access_token"].startswith("ya29.fake-")
    assert stored["refresh_token"] == alice_gmail.mailbox.refresh_token
    # google-auth dates the new token from when the answer came: at least its lifetime from before.
    assert datetime.fromisoformat(stored["expiry"]) >= before + timedelta(seconds=gmail.token_lifetime)
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_mailaccount WHERE id = %s", [account.pk])
        assert stored["access_token"] not in cursor.fetchone()[0]  # encrypted at rest

    # The next sync (a new adapter, as in a new task) uses the kept token.
    assert not pull_account(account.pk).error
    assert gmail.count("token") == 1
    assert gmail.count("history.list", status=200) == 1


def test_a_token_google_stopped_accepting_is_refreshed_and_the_call_repeated(gmail, alice_gmail, mail):
    pull_account(alice_gmail.account.pk)
    gmail.access_tokens.clear()  # e.g. revoked by a password change elsewhere, grant still valid
    raw, _ = mail.make(to=alice_gmail.account.address)
    alice_gmail.mailbox.deliver(raw)

    summary = pull_account(alice_gmail.account.pk)

    assert not summary.error and summary.report.created == 1
    assert gmail.count("history.list", status=401) == 1
    assert gmail.count("token") == 2
    assert _stored(alice_gmail.account)["access_token"] in gmail.access_tokens


def test_revoked_access_on_pull_marks_the_account_for_reconnecting(gmail, setup):
    gmail.revoke(setup.account.address)

    summary = pull_account(setup.account.pk)

    setup.account.refresh_from_db()
    assert setup.account.status == AccountStatus.NEEDS_REAUTH
    assert "invalid_grant" in summary.error and "Reconnect" in setup.account.status_reason
    assert gmail.count("token", status=400) == 1


def test_revoked_access_on_push_keeps_every_change_for_after_reconnecting(gmail, setup, mail):
    setup.switches(archive=True, delete=True)
    archived_id, a = seeded(setup.account, setup.mailbox, mail)
    _, b = seeded(setup.account, setup.mailbox, mail)
    services.archive_conversations(setup.actor, [a])
    services.delete_conversations(setup.actor, [b])
    gmail.revoke(setup.account.address)

    push_account(setup.account.pk)

    setup.account.refresh_from_db()
    assert setup.account.status == AccountStatus.NEEDS_REAUTH
    changes = ProviderChange.objects.filter(account=setup.account)
    assert [(c.status, c.attempts) for c in changes] == [(ChangeStatus.PENDING, 0)] * 2
    assert gmail.count("messages.batchModify") == 0
    # no further calls while it waits for the user
    push_account(setup.account.pk)
    assert gmail.count("token") == 1

    # Reconnected (a new grant): the waiting changes go through.
    setup.account.credentials = {"refresh_token": gmail.regrant(setup.account.address)}
    setup.account.status = AccountStatus.ACTIVE
    setup.account.save()
    assert push_account(setup.account.pk).done == 2
    assert "INBOX" not in setup.mailbox.labels_of(archived_id)


def test_a_mailbox_without_a_refresh_token_needs_reconnecting(gmail, alice_gmail):
    alice_gmail.account.credentials = {}
    alice_gmail.account.save(update_fields=["credentials"])

    pull_account(alice_gmail.account.pk)

    alice_gmail.account.refresh_from_db()
    assert alice_gmail.account.status == AccountStatus.NEEDS_REAUTH
    assert gmail.calls == []


def test_a_token_refreshed_during_a_reconnect_does_not_overwrite_the_new_grant(gmail, alice_gmail):
    adapter = GmailAdapter(MailAccount.objects.get(pk=alice_gmail.account.pk))  # loaded with the old grant
    MailAccount.objects.filter(pk=alice_gmail.account.pk).update(
        credentials={"refresh_token": "1//new-grant"}
    )

    adapter.pull()

    assert _stored(alice_gmail.account) == {"refresh_token": "1//new-grant"}


def test_proxy_settings_in_the_environment_are_not_used(gmail, alice_gmail, mail, monkeypatch):
    # A proxy on a closed port: a client that honoured it could not reach Gmail at all.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    raw, _ = mail.make(to=alice_gmail.account.address)
    alice_gmail.mailbox.deliver(raw)

    summary = pull_account(alice_gmail.account.pk)

    assert not summary.error and summary.report.created == 1
    assert gmail.count("token") == 1 and gmail.count("batch") == 2  # sizes first, then content


def test_wrong_oauth_client_settings_stop_the_sync_with_a_clear_reason(gmail, alice_gmail, settings):
    settings.GOOGLE_CLIENT_SECRET = "not-the-secret"

    summary = pull_account(alice_gmail.account.pk)

    assert "invalid_client" in summary.error
    assert gmail.count("token", status=401) == 1


def test_missing_oauth_client_settings_keep_changes_and_say_what_is_missing(
    gmail, alice_gmail, mail, settings
):
    alice_gmail.switches(archive=True)
    _, conversation = seeded(alice_gmail.account, alice_gmail.mailbox, mail)
    services.archive_conversations(alice_gmail.actor, [conversation])
    settings.GOOGLE_CLIENT_ID = ""

    before = datetime.now(UTC)
    push_account(alice_gmail.account.pk)

    change = ProviderChange.objects.get(account=alice_gmail.account)
    assert change.status == ChangeStatus.PENDING
    assert "GOOGLE_CLIENT_ID" in change.last_error
    assert change.next_attempt_at >= before + timedelta(hours=1)  # an operator's slip: retried hourly
    assert "GOOGLE_CLIENT_ID" in pull_account(alice_gmail.account.pk).error
    assert gmail.calls == []


def test_an_expired_refresh_token_of_a_testing_app_needs_reconnecting_and_says_why(gmail, setup):
    # Google ends the refresh tokens of an OAuth app in "Testing" status after 7 days.
    gmail.refresh_token_max_age = 7 * 24 * 3600
    setup.mailbox.age_refresh_token(8 * 24 * 3600)

    summary = pull_account(setup.account.pk)

    setup.account.refresh_from_db()
    assert setup.account.status == AccountStatus.NEEDS_REAUTH
    reason = setup.account.status_reason
    assert "invalid_grant" in reason and "7 days" in reason and "Testing" in reason
    assert "Reconnect the mailbox" in reason and summary.error == reason
    assert gmail.count("token", status=400) == 1


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (429, "rateLimitExceeded"),
        (403, "rateLimitExceeded"),
        (403, "userRateLimitExceeded"),
        (500, "backendError"),
        (503, "backendError"),
    ],
)
def test_throttling_and_server_errors_back_off_and_never_ask_to_reconnect(
    gmail, alice_gmail, mail, status, reason
):
    raw, _ = mail.make(to=alice_gmail.account.address)
    alice_gmail.mailbox.deliver(raw)
    assert not pull_account(alice_gmail.account.pk).error
    raw, _ = mail.make(to=alice_gmail.account.address, subject="Later")
    alice_gmail.mailbox.deliver(raw)
    gmail.fail("history.list", status, reason=reason, retry_after=60, times=3)

    summary = pull_account(alice_gmail.account.pk)

    alice_gmail.account.refresh_from_db()
    assert alice_gmail.account.status == AccountStatus.ACTIVE
    assert str(status) in summary.error
    assert alice_gmail.account.last_sync_error.startswith("temporary:")
    assert "Reconnect" not in alice_gmail.account.last_sync_error


def test_a_token_endpoint_that_fails_for_now_backs_off(gmail, alice_gmail):
    gmail.fail("token", 503, times=10)  # google-auth itself retries a 503 a few times first

    summary = pull_account(alice_gmail.account.pk)

    alice_gmail.account.refresh_from_db()
    assert alice_gmail.account.status == AccountStatus.ACTIVE
    assert summary.error and alice_gmail.account.last_sync_error.startswith("temporary:")
