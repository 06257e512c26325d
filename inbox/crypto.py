"""Encryption at rest for mailbox secrets (OAuth tokens, IMAP passwords).

MultiFernet decrypts with any configured key and encrypts with the first, so a new
key is put in front of FIELD_ENCRYPTION_KEYS and `manage.py rotate_encryption_keys`
re-encrypts every row; then the old key can be dropped.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret could not be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}") from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS") from exc


def rotate(token: str) -> str:
    return fernet().rotate(token.encode()).decode()
