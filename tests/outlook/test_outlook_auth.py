"""Signing in to Microsoft: the real msal against the fake identity platform over TLS."""

from __future__ import annotations

import json

import msal
import pytest
import requests
from django.db import connection

from inbox import services
from inbox.models import AccountStatus, ChangeStatus, MailAccount, ProviderChange
from sync.errors import ProviderAuthError, ProviderTemporaryError
from sync.providers import adapter_for
from sync.providers.outlook import OutlookAdapter
from sync.providers.outlook.auth import GraphTokens, graph_session
from sync.push import push_account
from tests.factories import switches
from tests.outlook.conftest import outlook_personal, seed, sign_in

pytestmark = pytest.mark.django_db


def _cache(account: MailAccount) -> dict:
    account.refresh_from_db()
    return json.loads(account.credentials["token_cache"])


def test_connect_flow_stores_an_encrypted_token_cache_for_the_signed_in_mailbox(ms, alice):
    ms.add_mailbox("alice@acme.test")
    connected = sign_in(ms, "alice@acme.test")
    assert connected.address == "alice@acme.test"
    account = services.connect_personal_mailbox(
        alice, provider="outlook", address=connected.address, credentials=connected.credentials, config={}
    )
    assert ms.token_grants() == ["authorization_code"]
    cache = _cache(account)
    assert len(cache["RefreshToken"]) == 1 and len(cache["AccessToken"]) == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_mailaccount WHERE id = %s", [account.pk])
        (stored,) = cursor.fetchone()
    refresh_token = next(iter(cache["RefreshToken"].values()))["secret"]
    assert refresh_token not in stored and "RefreshToken" not in stored


def test_adapter_is_the_outlook_adapter_and_uses_the_cached_token_without_a_round_trip(ms, alice):
    account, _ = outlook_personal(ms, alice)
    adapter = adapter_for(account)
    assert isinstance(adapter, OutlookAdapter)
    token = adapter.tokens.access_token()
    assert token in ms.access_tokens
    assert ms.token_grants() == ["authorization_code"]  # no refresh needed yet


def test_an_expiring_access_token_is_refreshed_silently_and_the_new_cache_persisted(ms, alice):
    ms.access_token_lifetime = 120  # msal treats < 5 minutes left as expired
    account, _ = outlook_personal(ms, alice)
    old_token = next(iter(_cache(account)["AccessToken"].values()))["secret"]
    ms.access_token_lifetime = 3600
    token = GraphTokens(account, graph_session()).access_token()
    assert token != old_token
    assert ms.token_grants() == ["authorization_code", "refresh_token"]
    assert next(iter(_cache(account)["AccessToken"].values()))["secret"] == token
    # The next process starts from the stored cache and uses that token as it is.
    assert GraphTokens(MailAccount.objects.get(pk=account.pk), graph_session()).access_token() == token
    assert ms.token_grants() == ["authorization_code", "refresh_token"]


def test_a_token_graph_rejects_is_refreshed_once_and_the_call_retried(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    ms.expire_access_tokens(alice.email)  # msal still believes its token is fresh
    folders = OutlookAdapter(account).folders()
    assert folders.id("inbox") == mailbox.folders["inbox"]
    assert ms.token_grants() == ["authorization_code", "refresh_token"]
    assert ms.count("batch", status=401) == 1 and ms.count("batch", status=200) == 1


def test_revoked_consent_marks_the_account_needs_reauth_and_keeps_the_changes(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    graph_id, result = seed(account, mailbox)
    services.archive_conversations(alice, [result.conversation_id])
    ms.revoke(alice.email)
    summary = push_account(account.pk)
    assert summary.skipped_reason == "the account needs to be reconnected"
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_REAUTH
    assert "reconnect" in account.status_reason
    change = ProviderChange.objects.get(account=account)
    assert change.status == ChangeStatus.PENDING and change.attempts == 0
    assert mailbox.folder_of(graph_id) == "inbox"


def test_invalid_grant_is_an_auth_error_for_every_later_attempt(ms, alice):
    account, _ = outlook_personal(ms, alice)
    ms.revoke(alice.email)
    tokens = GraphTokens(account, graph_session())
    with pytest.raises(ProviderAuthError):
        tokens.access_token(force_refresh=True)
    with pytest.raises(ProviderAuthError):
        GraphTokens(MailAccount.objects.get(pk=account.pk), graph_session()).access_token(force_refresh=True)


def test_a_wrong_client_secret_is_the_operators_problem_not_the_users(ms, alice, settings):
    account, _ = outlook_personal(ms, alice)
    settings.MS_CLIENT_SECRET = "not-the-secret"
    with pytest.raises(ProviderTemporaryError, match="invalid_client"):
        GraphTokens(account, graph_session()).access_token(force_refresh=True)


def test_missing_app_registration_is_a_clear_temporary_error(ms, alice, settings):
    account, _ = outlook_personal(ms, alice)
    settings.MS_CLIENT_ID = ""
    with pytest.raises(ProviderTemporaryError, match="MS_CLIENT_ID"):
        GraphTokens(account, graph_session()).access_token()


def test_the_test_ca_is_trusted_only_by_the_configured_session(ms):
    # The environment's CA bundle (REQUESTS_CA_BUNDLE) does not know the test CA...
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(ms.authority + "/v2.0/.well-known/openid-configuration", timeout=10)
    # ...the session built from MS_CA_BUNDLE does, whatever the environment says.
    response = graph_session().get(ms.authority + "/v2.0/.well-known/openid-configuration", timeout=10)
    assert response.json()["token_endpoint"].startswith("https://127.0.0.1:")


def test_msal_refuses_an_http_authority(ms):
    with pytest.raises(ValueError, match="https"):
        msal.ConfidentialClientApplication(
            ms.client_id,
            client_credential=ms.client_secret,
            authority=ms.authority.replace("https://", "http://"),
            http_client=graph_session(),
            instance_discovery=False,
        )


def test_a_pull_after_revoked_consent_marks_the_account_needs_reauth(ms, alice):
    from sync.pull import pull_account

    account, mailbox = outlook_personal(ms, alice)
    mailbox.deliver(subject="Unseen", to=[alice.email])
    ms.revoke(alice.email)
    ms.expire_access_tokens(alice.email)
    summary = pull_account(account.pk)
    assert "reconnect" in summary.error
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_REAUTH
    assert pull_account(account.pk).skipped_reason  # no more pulls until reconnected
