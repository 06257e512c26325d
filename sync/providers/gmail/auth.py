"""Google OAuth for a connected Gmail mailbox: the stored refresh token, refreshing the
access token (through our own transport), keeping refreshed tokens, and what Google's
refusals mean.

Only a refusal of the grant itself (``invalid_grant``: access removed, password changed, or
the 7-day refresh token of an OAuth app still in "Testing" status) means the user must
reconnect; a token endpoint that fails for now is a temporary error like any other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import google_auth_httplib2
import httplib2
from django.conf import settings
from django.db import transaction
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials

from inbox.models import MailAccount
from sync.errors import ProviderAuthError, ProviderError, ProviderTemporaryError

# What the connect flow must ask Google for: read mail, change labels, move to Trash.
SCOPES = ["https://www.googleapis.com/auth/gmail.modify"]

INVALID_GRANT_SENTENCE = (
    "Google no longer accepts this mailbox's connection (invalid_grant): access to Sales Inbox "
    "was removed in the Google account or its password changed, or — when the server's Google "
    'OAuth app is still in "Testing" status — Google ended the connection after 7 days. '
    "Reconnect the mailbox to sync again."
)


def refresh_error(exc: RefreshError) -> ProviderError:
    """What a failed refresh means: reconnect (the grant is gone) or try again later."""
    text = str(exc.args[0] if exc.args else exc)
    if getattr(exc, "retryable", False):
        return ProviderTemporaryError(f"Google's token endpoint failed for now: {text}")
    if "invalid_grant" in text:
        return ProviderAuthError(INVALID_GRANT_SENTENCE)
    if "invalid_client" in text or "unauthorized_client" in text:
        # The server's OAuth client settings are wrong: reconnecting cannot fix that, and
        # the changes must not be lost meanwhile. Checked again in an hour.
        return ProviderTemporaryError(
            f"Google refused this server's OAuth client ({text}): check GOOGLE_CLIENT_ID and "
            "GOOGLE_CLIENT_SECRET.",
            retry_after=3600,
        )
    # Anything else from the token endpoint is not proof that the grant is gone: back off.
    return ProviderTemporaryError(f"Google's token endpoint refused the refresh for now: {text}")


def _parse_expiry(value: object) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when  # google-auth compares naive UTC datetimes


class GmailAuth:
    """The account's Google credentials, refreshed over ``raw_http`` and kept when they change."""

    def __init__(self, account: MailAccount, raw_http: httplib2.Http) -> None:
        self.account = account
        self._raw_http = raw_http
        # An EncryptedJSONField holds a dict (its declared base is text).
        stored: Any = account.credentials or {}
        refresh_token = stored.get("refresh_token")
        if not refresh_token:
            raise ProviderAuthError("No Google refresh token is stored for this mailbox. Reconnect it.")
        if not settings.GOOGLE_CLIENT_ID or not settings.GOOGLE_CLIENT_SECRET:
            # An operator's slip, not the user's: keep the changes and say what is missing.
            raise ProviderTemporaryError(
                "Gmail is not configured on this server: set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET.",
                retry_after=3600,
            )
        self._stored_refresh_token = str(refresh_token)
        self._stored_access_token = stored.get("access_token") or None
        self.credentials = Credentials(
            token=self._stored_access_token,
            refresh_token=self._stored_refresh_token,
            token_uri=settings.GOOGLE_TOKEN_URI,
            client_id=settings.GOOGLE_CLIENT_ID,
            client_secret=settings.GOOGLE_CLIENT_SECRET,
            # No scopes on refresh: asking for a narrower set than the user granted (say
            # https://mail.google.com/) would fail with invalid_scope.
            expiry=_parse_expiry(stored.get("expiry")),
        )

    def authorized_http(self) -> google_auth_httplib2.AuthorizedHttp:
        return google_auth_httplib2.AuthorizedHttp(self.credentials, http=self._raw_http)

    def ensure_token(self) -> None:
        if self.credentials.valid:
            return
        try:
            self.credentials.refresh(google_auth_httplib2.Request(self._raw_http))
        except RefreshError as exc:
            raise refresh_error(exc) from exc
        except (TransportError, httplib2.HttpLib2Error, OSError) as exc:
            raise ProviderTemporaryError(f"Could not reach Google's token endpoint: {exc}") from exc
        self.persist_token()

    def persist_token(self) -> None:
        """Keep a refreshed access token, so the next run does not refresh again."""
        token = self.credentials.token
        if not token or token == self._stored_access_token:
            return
        expiry = self.credentials.expiry
        with transaction.atomic():
            row = MailAccount.objects.select_for_update().filter(pk=self.account.pk).first()
            if row is None:
                return
            current: Any = row.credentials or {}  # a dict, as above
            stored: Any = dict(current)
            if stored.get("refresh_token") != self._stored_refresh_token:
                return  # reconnected meanwhile: the new grant's tokens win
            stored.update(
                access_token=token,
                expiry=expiry.replace(tzinfo=UTC).isoformat() if expiry else None,
                refresh_token=self.credentials.refresh_token or self._stored_refresh_token,
            )
            MailAccount.objects.filter(pk=row.pk).update(credentials=stored)
        self.account.credentials = stored
        self._stored_access_token = token
