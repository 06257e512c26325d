"""Pushes and pulls run on separate queues and worker pools (config/celery.py): a user's
archive goes through while another mailbox's 10,000-message first sync is still running.

The pull worker runs Celery's prefork pool, as docker-compose.yml's worker-pull does. Not a
timing test (bench/imap_push_during_initial_sync.py measures the times): it asserts the order
of events — the push is at Dovecot while the pull still holds its lock and has not finished,
and the pull then finishes with every message.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from inbox import services
from inbox.models import ChangeStatus, Conversation, MailAccount, Message, ProviderChange
from inbox.services.nudge import SYNC_TASK, send_task_quietly
from tests.imap.conftest import make_setup
from tests.imap.dovecot import make_message
from tests.waiting import wait_until
from tests.worker import running_worker, unique_queue

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.dovecot,
    pytest.mark.timeout(600),
]
BIG = 10_000


def test_an_archive_push_completes_while_a_10000_message_first_sync_is_running(
    dovecot, acme, alice, bob, tmp_path
):
    # Bob's new mailbox holds 10,000 messages (written straight into the maildir: fast).
    big = make_setup(dovecot, "personal", acme=acme, alice=bob, bob=alice)
    raws = (make_message(subject=f"Old thread {n}", to=big.user.address)[1] for n in range(BIG))
    assert dovecot.write_maildir(big.user, "INBOX", raws) == BIG
    # Alice's mailbox is already in sync, with the archive switch on.
    small = make_setup(dovecot, "personal", acme=acme, alice=alice, bob=bob)
    question = small.deliver(subject="Can we sign this week?")
    small.switches(archive=True)
    small.pull()
    conversation = Conversation.objects.get(account=small.account)

    def pull_running() -> bool:
        account = MailAccount.objects.get(pk=big.account.pk)
        return (
            cache.get(f"sync-account-lock:{big.account.pk}") is not None
            and account.initial_sync_finished_at is None
        )

    with (
        unique_queue("queues") as queue,
        # The pull pool as compose runs it: Celery's prefork processes (daemonic), not solo.
        running_worker(
            queue=queue, kinds=("pull",), name="pull", log_path=tmp_path / "pull.log", processes=2
        ),
        running_worker(queue=queue, kinds=("push",), name="push", log_path=tmp_path / "push.log"),
    ):
        assert send_task_quietly(SYNC_TASK, big.account.pk)
        # The first sync is under way: it holds the account's lock and has stored messages.
        assert wait_until(
            lambda: pull_running() and Message.objects.filter(conversation__account=big.account).exists(),
            timeout=120,
        )

        result = services.archive_conversations(alice, [conversation.pk])
        change_id = result.changes[0].pk
        assert wait_until(
            lambda: ProviderChange.objects.get(pk=change_id).status == ChangeStatus.DONE, timeout=120
        )
        assert small.ids("archive") == [question] and small.ids("inbox") == []

        # … and all of that happened while the 10,000-message pull was still running.
        assert pull_running(), "the pull finished first: this run shows nothing about queues"
        stored = Message.objects.filter(conversation__account=big.account).count()
        assert 0 < stored < BIG
        assert "Task sync.push_changes[" not in (tmp_path / "pull.log").read_text()
        assert "Task sync.sync_account[" not in (tmp_path / "push.log").read_text()

        # The first sync then completes in the prefork pool, with every message.
        assert wait_until(
            lambda: MailAccount.objects.get(pk=big.account.pk).initial_sync_finished_at is not None,
            timeout=300,
            interval=1,
        ), (tmp_path / "pull.log").read_text()[-3000:]
        assert Message.objects.filter(conversation__account=big.account).count() == BIG
    cache.delete(f"sync-account-lock:{big.account.pk}")
