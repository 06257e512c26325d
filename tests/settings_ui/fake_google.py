"""Google's OAuth authorization endpoint and the authorization-code grant, added to the
fake Gmail server of tests/fakes (which only answers refresh grants), so "Connect Google"
runs end to end: authorize → code → token exchange (PKCE checked) → users.getProfile.

The "browser" is a plain HTTP client: the fake signs in ``signed_in`` (or the login_hint
user) and redirects to the app's callback with a code, or with ``error=access_denied``
when ``deny`` is set.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import time
import urllib.parse
from typing import Any

import requests

from tests.fakes.gmail_server import FakeGmail

Response = tuple[int, dict[str, str], bytes]
AUTH_PATH = "/o/oauth2/v2/auth"


def _json(status: int, payload: dict[str, Any]) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


class FakeGoogle(FakeGmail):
    def __init__(self) -> None:
        super().__init__()
        self._codes_counter = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.codes: dict[str, dict[str, Any]] = {}
            self.signed_in: str | None = None
            self.deny = False
            self.granted_scopes: list[str] | None = None  # None: everything asked for
            self.authorize_queries: list[dict[str, str]] = []
            self.exchanges: list[tuple[dict[str, str], int]] = []

    @property
    def auth_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{AUTH_PATH}"

    # --- the browser step ----------------------------------------------------------------------
    def browse(self, url: str) -> dict[str, str]:
        """Follow the app's redirect to Google as a browser would; returns the query of
        Google's redirect back to the app (what the callback view receives)."""
        session = requests.Session()
        session.trust_env = False
        response = session.get(url, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))

    # --- endpoints -----------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        url = urllib.parse.urlsplit(target)
        if url.path == AUTH_PATH and method == "GET":
            return self._authorize(dict(urllib.parse.parse_qsl(url.query)))
        if url.path == "/token" and method == "POST":
            form = dict(urllib.parse.parse_qsl(body.decode()))
            if form.get("grant_type") == "authorization_code":
                status, payload = self._exchange(form)
                with self.lock:
                    self.exchanges.append((form, status))
                return _json(status, payload)
        return super().handle(method, target, headers, body)

    def _authorize(self, query: dict[str, str]) -> Response:
        with self.lock:
            self.authorize_queries.append(query)
        if query.get("client_id") != self.client_id:
            return _json(400, {"error": "invalid_client"})
        if query.get("response_type") != "code" or not query.get("redirect_uri"):
            return _json(400, {"error": "invalid_request"})
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return _json(400, {"error": "invalid_request", "error_description": "PKCE required"})
        back = query["redirect_uri"]
        state = query.get("state", "")
        if self.deny:
            return (
                302,
                {"Location": back + "?" + urllib.parse.urlencode({"error": "access_denied", "state": state})},
                b"",
            )
        address = query.get("login_hint") or self.signed_in
        if address not in self.mailboxes:
            return _json(400, {"error": "invalid_request", "error_description": "fake: nobody signed in"})
        code = f"4/fake-code-{next(self._codes_counter)}-{secrets.token_urlsafe(8)}"
        asked = query.get("scope", "").split()
        with self.lock:
            self.codes[code] = {
                "address": address,
                "redirect_uri": back,
                "challenge": query["code_challenge"],
                "offline": query.get("access_type") == "offline",
                "scopes": asked if self.granted_scopes is None else self.granted_scopes,
            }
        answer = {"code": code, "state": state, "scope": " ".join(asked)}
        return 302, {"Location": back + "?" + urllib.parse.urlencode(answer)}, b""

    def _exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant", "error_description": "Malformed auth code."}
            verifier = form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if digest != grant["challenge"]:
                return 400, {"error": "invalid_grant", "error_description": "Invalid code verifier."}
            mailbox = self.mailboxes[grant["address"]]
            token = f"ya29.fake-code-token-{secrets.token_hex(6)}"
            self.access_tokens[token] = (mailbox.address, time.time() + self.token_lifetime)
            payload: dict[str, Any] = {
                "access_token": token,
                "expires_in": self.token_lifetime,
                "scope": " ".join(grant["scopes"]),
                "token_type": "Bearer",
            }
            if grant["offline"]:
                payload["refresh_token"] = mailbox.refresh_token
        return 200, payload
