"""Typed provider errors: their type decides what happens to a change or a sync."""

from __future__ import annotations


class ProviderError(Exception):
    """Base for everything an adapter raises on purpose."""


class ProviderTemporaryError(ProviderError):
    """429, 5xx, time-outs, a dropped connection: try again later (honour retry_after)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    """The credentials no longer work: the account needs the user to reconnect."""


class ProviderPermanentError(ProviderError):
    """The provider refused for good: fail the change and show why."""
