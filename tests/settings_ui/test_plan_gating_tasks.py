"""Plan gating at the task entry point: on Lite a real Celery worker neither syncs nor
pushes (Dovecot stays untouched, the waiting change fails with the upgrade reason); after
an upgrade the user's Retry on the status page gets the change through."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Plan
from inbox import services
from inbox.models import ChangeStatus, Conversation, ProviderChange
from inbox.services.nudge import PUSH_TASK, SYNC_TASK, send_task_quietly
from sync.pull import due_account_ids, pull_account
from tests.factories import switches
from tests.imap.conftest import make_setup
from tests.settings_ui.conftest import set_plan
from tests.waiting import wait_until
from tests.worker import purge_queue, running_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.dovecot]


def test_on_lite_the_worker_neither_syncs_nor_pushes_until_the_company_upgrades(
    dovecot, acme, alice, bob, tmp_path: Path
):
    setup = make_setup(dovecot, "personal", acme=acme, alice=alice, bob=bob)
    before = setup.deliver(subject="Before the downgrade")
    assert not pull_account(setup.account.pk).error
    conversation = Conversation.objects.get(account=setup.account)
    switches(alice, archive=True)
    change_id = services.archive_conversations(alice, [conversation.pk]).changes[0].pk
    set_plan(acme, Plan.LITE)
    setup.deliver(subject="After the downgrade")
    purge_queue()  # the archive's nudge: the worker below gets only what this test sends
    log = tmp_path / "worker.log"

    with running_worker(log_path=log):
        assert due_account_ids() == []  # beat schedules no sync for a Lite company
        send_task_quietly(SYNC_TASK, setup.account.pk)
        send_task_quietly(PUSH_TASK, setup.account.pk)
        assert wait_until(lambda: ProviderChange.objects.get(pk=change_id).status == ChangeStatus.FAILED)
        assert wait_until(lambda: "skipped: email sync is off" in log.read_text(errors="replace"))

        assert list(Conversation.objects.filter(account=setup.account).values_list("subject", flat=True)) == [
            "Before the downgrade"
        ]
        assert before in setup.ids("inbox") and setup.ids("archive") == []
        failed = ProviderChange.objects.get(pk=change_id)
        assert "not available on the Lite plan" in failed.last_error and failed.attempts == 0

        set_plan(acme, Plan.PREMIUM)
        client = Client()
        client.force_login(alice)
        status_page = client.get(reverse("email_sync:status", args=[setup.account.pk])).content.decode()
        assert "not available on the Lite plan" in status_page
        client.post(reverse("email_sync:retry_change", args=[change_id]))
        assert wait_until(lambda: ProviderChange.objects.get(pk=change_id).status == ChangeStatus.DONE)

    assert setup.ids("archive") == [before] and before not in setup.ids("inbox")
