"""A real Celery worker process on the Redis broker, talking to a real Dovecot."""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import ChangeStatus, Conversation, Message, ProviderChange
from inbox.services.nudge import SYNC_TASK, send_task_quietly
from tests.imap.conftest import make_setup
from tests.waiting import wait_until
from tests.worker import running_worker, unique_queue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.dovecot]


def test_archive_in_the_app_ends_up_in_the_dovecot_archive_with_no_further_call(dovecot, acme, alice, bob):
    setup = make_setup(dovecot, "personal", acme=acme, alice=alice, bob=bob)
    question = setup.deliver(subject="Through the worker")
    setup.switches(archive=True)

    with unique_queue("imap") as queue, running_worker(queue=queue):
        # The beat's sync task, sent by name, pulls the message in …
        assert send_task_quietly(SYNC_TASK, setup.account.pk)
        assert wait_until(lambda: Message.objects.filter(message_id=question).exists(), timeout=60)
        conversation = Conversation.objects.get(account=setup.account)

        # … and archiving in the app is all it takes: the on-commit nudge reaches the worker.
        result = services.archive_conversations(alice, [conversation.pk])
        change_id = result.changes[0].pk
        assert wait_until(lambda: setup.ids("archive") == [question], timeout=60)
        assert wait_until(lambda: ProviderChange.objects.get(pk=change_id).status == ChangeStatus.DONE)

    assert setup.ids("inbox") == []
    assert ProviderChange.objects.get(pk=change_id).attempts == 1
