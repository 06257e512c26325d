"""The per-account sync lock: one pull at a time per mailbox, released only by its owner.

On Redis (production, tests): ``SET key token NX EX ttl`` takes it; a Lua script deletes the
key only while it still holds the caller's token. A pull that outlived the lock's expiry and
finds another pull holding it leaves that lock alone, instead of deleting it and letting a
third pull start beside the second.

Without Redis (the SQLite demo, one worker process) the local-memory cache stands in.

The token is a random positive integer: Django's Redis cache reads integers back as they
are stored, so ``cache.get(sync_lock_key(...))`` (used by tests and the status checks)
still works on a key written here.
"""

from __future__ import annotations

import secrets
from functools import cache as memoize
from typing import Any

from django.conf import settings
from django.core.cache import cache

_RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


def sync_lock_key(account_id: int) -> str:
    return f"sync-account-lock:{account_id}"


def _redis_location() -> str | None:
    backend = settings.CACHES["default"]
    if backend["BACKEND"].endswith("RedisCache"):
        location = backend["LOCATION"]
        return location if isinstance(location, str) else location[0]
    return None


@memoize
def _client(location: str) -> Any:
    import redis

    return redis.Redis.from_url(location)


def acquire_sync_lock(account_id: int, *, seconds: int) -> str | None:
    """The owner's token when the lock was free, else None (someone else holds it)."""
    token = str(secrets.randbelow(2**62) + 1)
    location = _redis_location()
    if location is None:
        return token if cache.add(sync_lock_key(account_id), int(token), timeout=seconds) else None
    key = cache.make_key(sync_lock_key(account_id))
    return token if _client(location).set(key, token, nx=True, ex=seconds) else None


def release_sync_lock(account_id: int, token: str) -> bool:
    """Delete the lock if ``token`` still owns it; True when it did."""
    location = _redis_location()
    if location is None:
        # One process (the demo): nobody can slip in between the read and the delete.
        if cache.get(sync_lock_key(account_id)) == int(token):
            cache.delete(sync_lock_key(account_id))
            return True
        return False
    key = cache.make_key(sync_lock_key(account_id))
    return bool(_client(location).eval(_RELEASE, 1, key, token))
