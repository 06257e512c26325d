"""Microsoft sign-in for Outlook mailboxes: msal with one serialized token cache per account.

The cache (access token, refresh token, account record) lives in ``account.credentials``
(an EncryptedJSONField), so it is encrypted at rest and every worker process can refresh
it. msal does the refreshing: ``acquire_token_silent_with_error`` answers from the cache
while the access token is fresh and redeems the refresh token otherwise; whatever changed
is written back at once, so the next process starts from the newest tokens.

Errors are mapped to the sync error types: a refused grant (revoked consent, changed
password, expired refresh token) is ``ProviderAuthError`` — the user must reconnect —
while network trouble and Microsoft outages are ``ProviderTemporaryError``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import msal
import requests
from django.conf import settings

from inbox.models import MailAccount
from sync.errors import ProviderAuthError, ProviderTemporaryError

logger = logging.getLogger(__name__)

# Fully qualified, because that is how Entra ID answers (and msal matches cached tokens by
# the scopes it was answered with).
# Mail.Send: replies and new mail leave through the mailbox (``sendMail``).
GRAPH_SCOPES = ["https://graph.microsoft.com/Mail.ReadWrite", "https://graph.microsoft.com/Mail.Send"]
# Shared is for team mailboxes (an Exchange shared mailbox opened with a member's sign-in).
# Personal Microsoft accounts refuse it, so it is only ever asked for team mailboxes.
SHARED_SCOPE = "https://graph.microsoft.com/Mail.ReadWrite.Shared"
SHARED_SEND_SCOPE = "https://graph.microsoft.com/Mail.Send.Shared"


def scopes_for(*, team: bool) -> list[str]:
    """What a mailbox's sign-in asks for: ``Mail.ReadWrite`` and ``Mail.Send``, plus their
    ``.Shared`` forms for team mailboxes."""
    return [*GRAPH_SCOPES, SHARED_SCOPE, SHARED_SEND_SCOPE] if team else list(GRAPH_SCOPES)


def account_scopes(account: MailAccount) -> list[str]:
    """The scopes the account's stored sign-in was granted (as asked when it was connected)."""
    stored = _credentials(account).get("scopes")
    if isinstance(stored, list) and stored:
        return [str(s) for s in stored]
    return scopes_for(team=account.kind == "team")


# Errors after which only the user can help: they must sign in again.
REAUTH_ERRORS = {"invalid_grant", "interaction_required", "consent_required", "login_required"}

# msal's HTTP cache holds tenant discovery (24 h) and recent token-endpoint failures; one
# per process spares a discovery round trip for every adapter instance.
_HTTP_CACHE: dict[Any, Any] = {}


def graph_session() -> requests.Session:
    """The HTTP session for the authority and Graph.

    With MS_CA_BUNDLE set (tests with a local CA, TLS-inspecting proxies) the session
    trusts that bundle only and ignores the environment: ``trust_env`` would otherwise let
    REQUESTS_CA_BUNDLE win over ``verify``.
    """
    session = requests.Session()
    if settings.MS_CA_BUNDLE:
        session.trust_env = False
        session.verify = settings.MS_CA_BUNDLE
    return session


def _client_app(
    cache: msal.SerializableTokenCache | None, session: requests.Session
) -> msal.ConfidentialClientApplication:
    if not settings.MS_CLIENT_ID or not settings.MS_CLIENT_SECRET:
        raise ProviderTemporaryError(
            "Outlook is not configured on this server (MS_CLIENT_ID / MS_CLIENT_SECRET are empty).",
            retry_after=3600,
        )
    try:
        return msal.ConfidentialClientApplication(
            settings.MS_CLIENT_ID,
            client_credential=settings.MS_CLIENT_SECRET,
            authority=settings.MS_AUTHORITY,
            token_cache=cache,
            http_client=session,
            http_cache=_HTTP_CACHE,
            # The authority is configured, not user input: no round trip to validate it.
            instance_discovery=False,
        )
    except requests.RequestException as exc:
        raise ProviderTemporaryError(f"Microsoft sign-in is unreachable: {exc}") from exc
    except ValueError as exc:
        # Tenant discovery failed: a wrong MS_AUTHORITY or an identity-platform outage.
        raise ProviderTemporaryError(f"Microsoft sign-in is unavailable: {exc}", retry_after=300) from exc


def _credentials(account: MailAccount) -> dict[str, Any]:
    # An EncryptedJSONField: a dict in Python (its declared base type is TextField).
    value: Any = account.credentials
    return value if isinstance(value, dict) else {}


class GraphTokens:
    """Access tokens for one account, from its own msal cache."""

    def __init__(self, account: MailAccount, session: requests.Session) -> None:
        self.account = account
        self.session = session
        self._cache = msal.SerializableTokenCache()
        serialized = _credentials(account).get("token_cache")
        if serialized:
            self._cache.deserialize(serialized)
        self._app: msal.ConfidentialClientApplication | None = None

    def access_token(self, *, force_refresh: bool = False) -> str:
        if self._app is None:
            self._app = _client_app(self._cache, self.session)
        app = self._app
        msal_account = self._msal_account(app)
        if msal_account is None:
            raise ProviderAuthError("No Microsoft sign-in is stored for this mailbox; reconnect it.")
        try:
            result = app.acquire_token_silent_with_error(
                account_scopes(self.account), account=msal_account, force_refresh=force_refresh
            )
        except requests.RequestException as exc:
            raise ProviderTemporaryError(f"Microsoft sign-in is unreachable: {exc}") from exc
        finally:
            self._save()
        if result is None:
            # msal drops a refresh token the authority refused: nothing left to redeem.
            raise ProviderAuthError("Microsoft sign-in expired for this mailbox; reconnect it.")
        if "error" in result:
            error = str(result.get("error"))
            description = str(result.get("error_description", "")).splitlines()[0:1]
            detail = f"{error}: {description[0]}" if description else error
            if error in REAUTH_ERRORS:
                raise ProviderAuthError(f"Microsoft refused the sign-in ({detail}); reconnect the mailbox.")
            # invalid_client (a wrong or expired MS_CLIENT_SECRET) is the operator's to fix,
            # and temporarily_unavailable & co. pass: keep the user's changes for later.
            raise ProviderTemporaryError(f"Microsoft sign-in failed ({detail}).", retry_after=300)
        return str(result["access_token"])

    def _msal_account(self, app: msal.ConfidentialClientApplication) -> dict[str, Any] | None:
        creds = _credentials(self.account)
        accounts = app.get_accounts()
        home_id = creds.get("home_account_id")
        for candidate in accounts:
            if home_id and candidate.get("home_account_id") == home_id:
                return candidate
        username = str(creds.get("username") or "").lower()
        for candidate in accounts:
            if username and str(candidate.get("username", "")).lower() == username:
                return candidate
        return accounts[0] if len(accounts) == 1 else None

    def _save(self) -> None:
        if not self._cache.has_state_changed:
            return
        credentials: Any = {**_credentials(self.account), "token_cache": self._cache.serialize()}
        self.account.credentials = credentials
        # update(), not save(): other fields of the row may be changing in another worker.
        MailAccount.objects.filter(pk=self.account.pk).update(credentials=credentials)
        self._cache.has_state_changed = False


# --- connecting a mailbox (the OAuth authorization-code flow with PKCE) -------------------


@dataclass(frozen=True)
class ConnectedMailbox:
    address: str
    name: str
    credentials: dict[str, object]


def start_connect(redirect_uri: str, *, login_hint: str = "", team: bool = False) -> dict[str, Any]:
    """Begin connecting an Outlook mailbox: keep the returned flow in the user's session and
    send the browser to ``flow["auth_uri"]``; Microsoft posts the answer to ``redirect_uri``
    (hand its form fields to ``finish_connect``). ``team``: a team mailbox, which may be a
    shared mailbox and so needs ``Mail.ReadWrite.Shared``."""
    app = _client_app(None, graph_session())
    return app.initiate_auth_code_flow(
        scopes_for(team=team),
        redirect_uri=redirect_uri,
        login_hint=login_hint or None,
        prompt="select_account",
        # The answer comes back as a POST, so the code never sits in a URL or a log.
        response_mode="form_post",
    )


def finish_connect(flow: dict[str, Any], auth_response: dict[str, str]) -> ConnectedMailbox:
    """Redeem the code Microsoft redirected back with; returns what ``connect_*_mailbox``
    stores. Raises ProviderAuthError when the user declined or the answer is not ours."""
    cache = msal.SerializableTokenCache()
    app = _client_app(cache, graph_session())
    try:
        scopes = [s for s in flow.get("scope", []) if s.startswith("https://")] or list(GRAPH_SCOPES)
        result = app.acquire_token_by_auth_code_flow(flow, auth_response, scopes=scopes)
    except ValueError as exc:  # state mismatch, a replayed answer
        raise ProviderAuthError(f"The Microsoft sign-in answer was not valid: {exc}") from exc
    except requests.RequestException as exc:
        raise ProviderTemporaryError(f"Microsoft sign-in is unreachable: {exc}") from exc
    if "error" in result:
        raise ProviderAuthError(
            f"Microsoft sign-in failed: {result.get('error_description') or result['error']}"
        )
    claims = result.get("id_token_claims") or {}
    address = str(claims.get("preferred_username") or claims.get("email") or "").lower()
    accounts = app.get_accounts(username=address) or app.get_accounts()
    home_id = accounts[0]["home_account_id"] if accounts else ""
    return ConnectedMailbox(
        address=address,
        name=str(claims.get("name") or address),
        credentials={
            "token_cache": cache.serialize(),
            "home_account_id": home_id,
            "username": address,
            "scopes": scopes,
        },
    )
