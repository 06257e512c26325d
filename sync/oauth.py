"""Connecting Gmail and Outlook mailboxes: the OAuth 2.0 authorization-code flow with PKCE.

Why not django-allauth's Google and Microsoft providers: they are built for *signing in*
(they create SocialAccount/SocialToken rows tied to a login), their authorize and token
URLs are hard-coded to accounts.google.com / login.microsoftonline.com, and the tokens we
need belong to a mailbox (encrypted in ``MailAccount.credentials``), not to a login. So the
flow is done here, with its endpoints taken from settings, which is also what lets the
suite run it against the local fakes in tests/fakes.

* Google: the browser goes to ``GOOGLE_AUTH_URI`` (offline access, consent prompt so a
  refresh token comes back on every connect, PKCE S256); the code is redeemed at
  ``GOOGLE_TOKEN_URI`` with ``requests``; the mailbox's address is what Gmail's
  ``users.getProfile`` answers (through the Gmail adapter's own client), not what the user
  typed.
* Microsoft: msal does the flow (``sync.providers.outlook.auth.start_connect`` /
  ``finish_connect``: PKCE, ``offline_access`` added by msal, ``form_post`` answer).
  ``Mail.ReadWrite.Shared`` is asked for team mailboxes only: personal Microsoft accounts
  refuse it, and a personal mailbox never needs it.

A flow in progress is a small JSON-able dict the view keeps in the user's session and
hands back with the provider's answer; it is single use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings

from inbox.models import MailAccount, Provider
from sync.errors import ProviderAuthError, ProviderError
from sync.providers.gmail.auth import SCOPES as GMAIL_SCOPES
from sync.providers.gmail.client import GmailClient
from sync.providers.outlook import auth as graph_auth

TOKEN_TIMEOUT_SECONDS = 30
# A flow older than this is refused: the user left the provider's page open for too long.
FLOW_MAX_AGE = timedelta(minutes=30)


class OAuthError(Exception):
    """The sign-in did not give us a usable mailbox; the message is for the user."""


@dataclass(frozen=True)
class ConnectedMailbox:
    """What the connect services store: the address the provider vouches for, and secrets."""

    provider: str
    address: str
    name: str
    credentials: dict[str, object]


def google_configured() -> bool:
    return bool(settings.GOOGLE_CLIENT_ID and settings.GOOGLE_CLIENT_SECRET)


def microsoft_configured() -> bool:
    return bool(settings.MS_CLIENT_ID and settings.MS_CLIENT_SECRET)


def configured(provider: str) -> bool:
    checks: dict[str, Callable[[], bool]] = {
        Provider.GMAIL: google_configured,
        Provider.OUTLOOK: microsoft_configured,
    }
    return checks[provider]()


def start(
    provider: str, redirect_uri: str, *, login_hint: str = "", team: bool = False
) -> tuple[str, dict[str, Any]]:
    """(URL to send the browser to, the flow to keep in the session). ``team``: connecting a
    team mailbox (Microsoft: the only case that asks for ``Mail.ReadWrite.Shared``)."""
    if not configured(provider):
        raise OAuthError("Connecting this kind of mailbox is not set up on this server.")
    if provider == Provider.GMAIL:
        url, flow = _start_google(redirect_uri, login_hint=login_hint)
    else:
        try:
            ms_flow = graph_auth.start_connect(redirect_uri, login_hint=login_hint, team=team)
        except ProviderError as exc:
            raise OAuthError(f"Microsoft sign-in is not available right now: {exc}") from exc
        url, flow = str(ms_flow["auth_uri"]), {"msal": ms_flow}
    flow["started_at"] = datetime.now(UTC).isoformat()
    return url, flow


def finish(provider: str, flow: dict[str, Any], answer: dict[str, str]) -> ConnectedMailbox:
    """Redeem the provider's answer (the callback's query or form fields)."""
    started = datetime.fromisoformat(str(flow.get("started_at", "1970-01-01T00:00:00+00:00")))
    if datetime.now(UTC) - started > FLOW_MAX_AGE:
        raise OAuthError("The sign-in took too long and has expired. Please start again.")
    if answer.get("error"):
        if answer["error"] == "access_denied":
            raise OAuthError("You did not allow Sales Inbox to access the mailbox, so nothing was connected.")
        detail = answer.get("error_description") or answer["error"]
        raise OAuthError(f"The sign-in was not completed: {detail}")
    if provider == Provider.GMAIL:
        return _finish_google(flow, answer)
    try:
        connected = graph_auth.finish_connect(flow["msal"], answer)
    except ProviderAuthError as exc:
        raise OAuthError(str(exc)) from exc
    except ProviderError as exc:
        raise OAuthError(f"Microsoft sign-in could not be completed: {exc}") from exc
    if not connected.address:
        raise OAuthError("Microsoft did not say which mailbox you signed in to.")
    return ConnectedMailbox(Provider.OUTLOOK, connected.address, connected.name, connected.credentials)


# --- Google ---------------------------------------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _start_google(redirect_uri: str, *, login_hint: str) -> tuple[str, dict[str, Any]]:
    verifier = secrets.token_urlsafe(64)  # 86 characters: within PKCE's 43-128
    state = secrets.token_urlsafe(32)
    params = {
        "client_id": settings.GOOGLE_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(GMAIL_SCOPES),
        # offline: a refresh token, so sync runs while the user is away; consent: Google
        # sends a refresh token again on a reconnect, not only the very first time.
        "access_type": "offline",
        "prompt": "consent",
        "state": state,
        "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
    }
    if login_hint:
        params["login_hint"] = login_hint
    url = settings.GOOGLE_AUTH_URI + "?" + urllib.parse.urlencode(params)
    return url, {"state": state, "code_verifier": verifier, "redirect_uri": redirect_uri}


def _token_session() -> requests.Session:
    # Like the Gmail adapter's transport: no proxy or CA bundle picked up from the
    # environment, so a stray HTTP(S)_PROXY cannot divert the code exchange.
    session = requests.Session()
    session.trust_env = False
    return session


def _finish_google(flow: dict[str, Any], answer: dict[str, str]) -> ConnectedMailbox:
    if not hmac.compare_digest(str(answer.get("state", "")), str(flow.get("state", ""))):
        raise OAuthError("The Google answer does not belong to this sign-in. Please start again.")
    code = answer.get("code", "")
    if not code:
        raise OAuthError("Google did not send a sign-in code. Please start again.")
    try:
        with _token_session() as session:
            response = session.post(
                settings.GOOGLE_TOKEN_URI,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": flow["redirect_uri"],
                    "client_id": settings.GOOGLE_CLIENT_ID,
                    "client_secret": settings.GOOGLE_CLIENT_SECRET,
                    "code_verifier": flow["code_verifier"],
                },
                timeout=TOKEN_TIMEOUT_SECONDS,
            )
    except requests.RequestException as exc:
        raise OAuthError(f"Google could not be reached to finish the sign-in: {exc}") from exc
    try:
        tokens = response.json()
    except ValueError:
        tokens = {}
    if response.status_code != 200 or "access_token" not in tokens:
        error = tokens.get("error_description") or tokens.get("error") or f"HTTP {response.status_code}"
        raise OAuthError(f"Google refused the sign-in: {error}")
    granted = set(str(tokens.get("scope", " ".join(GMAIL_SCOPES))).split())
    if not set(GMAIL_SCOPES) <= granted:
        # Google's consent screen lets people untick scopes; without this one nothing works.
        raise OAuthError(
            "Google did not grant access to Gmail. Connect again and allow Sales Inbox to "
            "read and organize your mail."
        )
    if not tokens.get("refresh_token"):
        raise OAuthError(
            "Google did not grant offline access, so the mailbox could not sync while you are "
            "away. Remove Sales Inbox at myaccount.google.com/permissions and connect again."
        )
    expiry = datetime.now(UTC) + timedelta(seconds=int(tokens.get("expires_in") or 0))
    credentials: dict[str, object] = {
        "refresh_token": tokens["refresh_token"],
        "access_token": tokens["access_token"],
        "expiry": expiry.isoformat(),
    }
    address = _gmail_address(credentials)
    return ConnectedMailbox(Provider.GMAIL, address, address, credentials)


def _gmail_address(credentials: dict[str, object]) -> str:
    """The mailbox the tokens open, as Gmail itself reports it."""
    stored: Any = credentials  # an EncryptedJSONField holds a dict (its declared base is text)
    probe = MailAccount(provider=Provider.GMAIL, address="", credentials=stored)
    try:
        client = GmailClient(probe)
        profile = client.call(client.users.getProfile(userId="me"))
    except ProviderError as exc:
        raise OAuthError(f"Gmail did not open the mailbox with the new sign-in: {exc}") from exc
    address = str(profile.get("emailAddress") or "").lower()
    if not address:
        raise OAuthError("Gmail did not say which mailbox you signed in to.")
    return address
