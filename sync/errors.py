"""Typed provider errors: their type decides what happens to a change or a sync."""

from __future__ import annotations


class ProviderError(Exception):
    """Base for everything an adapter raises on purpose."""


class ProviderTemporaryError(ProviderError):
    """429, 5xx, time-outs, a dropped connection: try again later (honour retry_after).

    ``retry_after`` is the provider's own "come back in N seconds" (a 429/503 Retry-After):
    the outbox then waits exactly that long without spending an attempt. ``progress`` lets a
    push that aborts part-way report what it had already finished, per change id (provider
    keys of the refs that are done), so the next attempt does not redo them.
    """

    # True when the provider said "slow down" (see ProviderThrottled).
    throttled = False

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        progress: dict[int, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.progress: dict[int, list[str]] = dict(progress or {})


class ProviderThrottled(ProviderTemporaryError):
    """The provider said "slow down" (429, a rate-limit 403): nothing is wrong with the
    change, so the outbox waits — Retry-After when given, else its backoff — and never
    spends an attempt on it (a throttling storm must not fail a user's action)."""

    throttled = True


class ProviderAuthError(ProviderError):
    """The credentials no longer work: the account needs the user to reconnect."""


class ProviderPermanentError(ProviderError):
    """The provider refused for good: fail the change and show why."""
