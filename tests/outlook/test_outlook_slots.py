"""The per-mailbox limit of 4 Graph requests in flight is shared by every process (Redis),
and a Redis outage falls back to counting within the process instead of stopping sync."""

from __future__ import annotations

import socket

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sync.errors import ProviderTemporaryError
from sync.providers.outlook import client as graph_client
from sync.providers.outlook.client import MAILBOX_CONCURRENCY, MailboxSlots


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_workers_of_one_mailbox_share_its_four_slots(monkeypatch):
    monkeypatch.setattr(graph_client, "SLOT_WAIT_SECONDS", 0)  # one try, then "busy"
    push_worker, pull_worker = MailboxSlots("test-mailbox-a"), MailboxSlots("test-mailbox-a")
    assert push_worker._script is not None  # Redis is configured for the tests
    with push_worker.hold(MAILBOX_CONCURRENCY):
        with pytest.raises(ProviderTemporaryError, match="busy"), pull_worker.hold(1):
            pass
        with MailboxSlots("test-mailbox-b").hold(MAILBOX_CONCURRENCY):
            pass  # another mailbox has its own four
    with pull_worker.hold(1), pull_worker.hold(3):
        pass  # released: free again


def test_a_batch_takes_at_most_four_slots(monkeypatch):
    monkeypatch.setattr(graph_client, "SLOT_WAIT_SECONDS", 0)
    slots = MailboxSlots("test-mailbox-c")
    with slots.hold(20), pytest.raises(ProviderTemporaryError), slots.hold(1):
        pass


def test_without_redis_the_slots_are_counted_in_the_process(monkeypatch):
    monkeypatch.setattr(graph_client, "SLOT_WAIT_SECONDS", 0)
    slots = MailboxSlots("test-mailbox-d")
    # As many retries as redis-py's default client makes, without its seconds of backoff.
    retry = Retry(NoBackoff(), retries=redis.Redis().get_retry().get_retries())
    slots._redis = redis.Redis(host="127.0.0.1", port=_free_port(), socket_connect_timeout=1, retry=retry)
    slots._script = slots._redis.register_script(graph_client._SLOT_SCRIPT)
    # Redis refuses the connection: sync goes on, counted within this process.
    with slots.hold(MAILBOX_CONCURRENCY), pytest.raises(ProviderTemporaryError), slots.hold(1):
        pass
    with slots.hold(1):
        pass
    assert MailboxSlots._redis_down_until > 0  # Redis is left alone for a while


@pytest.fixture(autouse=True)
def redis_up():  # type: ignore[no-untyped-def]
    MailboxSlots._redis_down_until = 0.0
    yield
    MailboxSlots._redis_down_until = 0.0
