"""Scheduling pulls and the per-account sync lock, on the real Redis broker and cache.

Beat claims due mailboxes (one UPDATE … RETURNING that moves next_sync_at forward), so a
stopped or busy pull pool never piles up pulls of one mailbox; the sync lock carries an
owner token and is released only by its owner."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from inbox.models import MailAccount
from inbox.services.mailboxes import claim_due_mailboxes, record_sync_outcome
from sync.locks import acquire_sync_lock, release_sync_lock, sync_lock_key
from sync.pull import LOCK_SECONDS, pull_account_once
from sync.tasks import schedule_due_syncs
from tests.worker import unique_queue

LEASE = timedelta(seconds=LOCK_SECONDS)


class Clock:
    """timezone.now, frozen at a captured ``before`` and moved only by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = timezone.now()
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _queued_pulls(queue: str) -> Counter[int]:
    """Pull messages waiting in the broker (Redis), by mailbox id."""
    from config.celery import app, queue_name

    with app.connection_for_write() as conn:
        raw = conn.default_channel.client.lrange(queue_name("pull", queue), 0, -1)
    return Counter(json.loads(json.loads(item)["headers"]["argsrepr"])[0] for item in raw)


@pytest.mark.django_db
def test_claim_due_mailboxes_claims_each_due_mailbox_once_until_its_lease_ends(
    alice_mailbox, bob_mailbox, carol_mailbox, monkeypatch
):
    clock = Clock(monkeypatch)
    MailAccount.objects.filter(pk=carol_mailbox.pk).update(next_sync_at=clock.now + timedelta(hours=1))

    first = claim_due_mailboxes(lease=LEASE)
    again = claim_due_mailboxes(lease=LEASE)

    assert first == sorted([alice_mailbox.pk, bob_mailbox.pk]) and again == []
    assert MailAccount.objects.get(pk=alice_mailbox.pk).next_sync_at == clock.now + LEASE
    clock.advance(seconds=LEASE.total_seconds())  # the pull message was lost: claimed again
    assert claim_due_mailboxes(lease=LEASE) == sorted([alice_mailbox.pk, bob_mailbox.pk])


@pytest.mark.django_db
def test_claim_due_mailboxes_skips_plans_without_email_sync_and_inactive_mailboxes(
    alice_mailbox, bob_mailbox, carol_mailbox, monkeypatch
):
    Clock(monkeypatch)
    carol_mailbox.company.plan = "lite"
    carol_mailbox.company.save()
    MailAccount.objects.filter(pk=bob_mailbox.pk).update(status="paused")
    assert claim_due_mailboxes(lease=LEASE) == [alice_mailbox.pk]


@pytest.mark.django_db
def test_schedule_due_syncs_with_workers_stopped_for_ten_minutes_queues_one_pull_per_mailbox(
    alice_mailbox, bob_mailbox, sales_mailbox, monkeypatch
):
    """No worker runs; beat ticks every minute for ten minutes. The broker holds one pull
    per mailbox, not eleven."""
    clock = Clock(monkeypatch)
    mailboxes = {alice_mailbox.pk, bob_mailbox.pk, sales_mailbox.pk}
    with unique_queue("schedule") as queue:
        scheduled = []
        for _ in range(11):  # minute 0 … minute 10
            scheduled.append(schedule_due_syncs())
            clock.advance(minutes=1)
        queued = _queued_pulls(queue)
    assert scheduled == [3] + [0] * 10
    assert set(queued) == mailboxes and max(queued.values()) == 1


@pytest.mark.django_db
def test_schedule_due_syncs_claims_a_mailbox_again_once_its_pull_has_finished(alice_mailbox, monkeypatch):
    clock = Clock(monkeypatch)
    with unique_queue("schedule") as queue:
        assert schedule_due_syncs() == 1
        clock.advance(seconds=30)
        # The pull ran and says when the next is due (SYNC_INTERVAL from its start).
        record_sync_outcome(
            alice_mailbox, synced_at=clock.now, error="", next_sync_at=clock.now + timedelta(minutes=2)
        )
        clock.advance(minutes=1)
        assert schedule_due_syncs() == 0
        clock.advance(minutes=1)
        assert schedule_due_syncs() == 1
        assert _queued_pulls(queue)[alice_mailbox.pk] == 2


def test_release_sync_lock_leaves_a_lock_taken_by_another_owner():
    account_id = 987654
    cache.delete(sync_lock_key(account_id))
    first = acquire_sync_lock(account_id, seconds=60)
    assert first is not None and acquire_sync_lock(account_id, seconds=60) is None
    cache.delete(sync_lock_key(account_id))  # the first pull outlived its lock: it expired
    second = acquire_sync_lock(account_id, seconds=60)
    assert second is not None and second != first

    assert release_sync_lock(account_id, first) is False  # the late first pull ends
    assert cache.get(sync_lock_key(account_id)) == int(second)  # the second still holds it
    assert release_sync_lock(account_id, second) is True
    assert cache.get(sync_lock_key(account_id)) is None


@pytest.mark.django_db
def test_pull_account_once_leaves_the_lock_of_a_running_pull_alone(alice_mailbox):
    holder = acquire_sync_lock(alice_mailbox.pk, seconds=60)
    assert holder is not None
    try:
        summary = pull_account_once(alice_mailbox.pk)
        assert summary.skipped_reason == "a sync of this account is already running"
        assert cache.get(sync_lock_key(alice_mailbox.pk)) == int(holder)
    finally:
        release_sync_lock(alice_mailbox.pk, holder)
