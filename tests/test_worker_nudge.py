"""A real Celery worker on the Redis broker drains the outbox after commit — and the beat
sweeper recovers a change whose nudge never reached the broker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import services
from inbox.models import ChangeStatus, ProviderChange
from sync.tasks import sweep_outbox
from tests.factories import receive, switches
from tests.waiting import wait_until
from tests.worker import purge_queue, running_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _status(change_id: int) -> str:
    return ProviderChange.objects.get(pk=change_id).status


def test_archive_is_pushed_by_the_worker_after_commit_with_no_further_call(alice, alice_mailbox):
    switches(alice, archive=True)
    conversation = receive(alice_mailbox).conversation_id
    purge_queue()
    with running_worker(settings_module="tests.worker_settings"):
        result = services.archive_conversations(alice, [conversation])
        change_id = result.changes[0].pk
        assert wait_until(lambda: _status(change_id) == ChangeStatus.DONE)
    assert ProviderChange.objects.get(pk=change_id).attempts == 1


def test_change_committed_without_a_nudge_is_pushed_after_the_sweeper_runs(alice, alice_mailbox):
    switches(alice, archive=True)
    conversation = receive(alice_mailbox).conversation_id
    result = services.archive_conversations(alice, [conversation])
    change_id = result.changes[0].pk
    purge_queue()  # the process that committed died before its message reached a worker
    ProviderChange.objects.filter(pk=change_id).update(next_attempt_at=timezone.now() - timedelta(minutes=2))
    with running_worker(settings_module="tests.worker_settings"):
        assert _status(change_id) == ChangeStatus.PENDING
        assert sweep_outbox() == 1
        assert wait_until(lambda: _status(change_id) == ChangeStatus.DONE)
