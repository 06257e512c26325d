"""The chaos runs' own servers: a Redis broker, a Dovecot, workers and beat — never the
shared Redis or PostgreSQL server's other databases. Each test module runs its scenario
once (module scope) and its tests assert on what happened."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command

from tests.chaos.harness import ChaosDovecot, ImapProxy, RedisServer


@pytest.fixture(scope="module")
def chaos_db(django_db_setup, django_db_blocker) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Committed data for a whole module (worker processes only see committed rows);
    emptied afterwards, as after any transactional test."""
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def chaos_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def chaos_dovecot() -> Iterator[ChaosDovecot]:
    server = ChaosDovecot("standard").start()
    yield server
    server.cleanup()


@pytest.fixture
def proxy(chaos_dovecot: ChaosDovecot) -> Iterator[ImapProxy]:
    """A relay in front of the chaos Dovecot, where "another client" can step in."""
    relay = ImapProxy(chaos_dovecot.port).start()
    yield relay
    relay.stop()
