"""The Gmail adapter in a real Celery worker process (settings read from the environment,
as in production): a sync task pulls mail from the fake Gmail, and an archive in the app
reaches Gmail through the on-commit nudge alone."""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import ChangeStatus, ConversationState, MailAccount, ProviderChange
from inbox.services.nudge import SYNC_TASK, send_task_quietly
from tests.fakes.gmail_server import FakeGmail
from tests.gmail.helpers import conversation_of
from tests.waiting import wait_until
from tests.worker import purge_queue, running_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_worker_syncs_and_pushes_a_gmail_account(gmail, alice_gmail, mail, monkeypatch):
    for name, value in {
        "GMAIL_API_ENDPOINT": gmail.api_endpoint,
        "GOOGLE_TOKEN_URI": gmail.token_uri,
        "GOOGLE_CLIENT_ID": FakeGmail.client_id,
        "GOOGLE_CLIENT_SECRET": FakeGmail.client_secret,
    }.items():
        monkeypatch.setenv(name, value)
    alice_gmail.switches(archive=True)
    raw, _ = mail.make(subject="Renewal", to=alice_gmail.account.address)
    gmail_id = alice_gmail.mailbox.deliver(raw)
    purge_queue()

    with running_worker():
        send_task_quietly(SYNC_TASK, alice_gmail.account.pk)
        assert wait_until(lambda: conversation_of(alice_gmail.account, gmail_id) is not None)
        conversation = conversation_of(alice_gmail.account, gmail_id)
        assert conversation.state == ConversationState.INBOX

        result = services.archive_conversations(alice_gmail.actor, [conversation.pk])
        change_id = result.changes[0].pk
        assert wait_until(lambda: ProviderChange.objects.get(pk=change_id).status == ChangeStatus.DONE)

    assert alice_gmail.mailbox.labels_of(gmail_id) == {"UNREAD"}
    assert gmail.count("threads.modify", status=200) == 1  # the whole thread left the Inbox
    # the worker kept the access token it got, for the next task
    assert (
        MailAccount.objects.get(pk=alice_gmail.account.pk).credentials["access_token"] in gmail.access_tokens
    )
