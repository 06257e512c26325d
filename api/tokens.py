"""Making, checking and revoking API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from api.models import ApiToken

# Writing last_used_at on every request would turn every read into a write; once an hour
# is enough to tell a person whether a token is still in use.
LAST_USED_GRANULARITY = timedelta(hours=1)
# Anything longer is not one of ours; refuse before hashing arbitrary input.
MAX_TOKEN_LENGTH = 200


def digest_of(token: str) -> str:
    # A plain SHA-256 is enough: the token is 160 random bits, not a guessable password.
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def issue_token(user: User) -> str:
    """Make a new token for the user (replacing any old one) and return its plaintext."""
    token = secrets.token_hex(20)  # 40 hex characters, like Pipedrive's tokens
    ApiToken.objects.update_or_create(
        user=user,
        defaults={
            "digest": digest_of(token),
            "hint": token[-4:],
            "created_at": timezone.now(),
            "last_used_at": None,
        },
    )
    return token


def revoke_token(user: User) -> bool:
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return bool(deleted)


def user_for_token(token: str) -> User | None:
    """The active user the token belongs to, or None (wrong, revoked, or user gone)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = (
        ApiToken.objects.select_related("user__company")
        .filter(digest=digest_of(token), user__is_active=True, user__company__isnull=False)
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user
