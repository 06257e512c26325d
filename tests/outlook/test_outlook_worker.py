"""The Outlook adapter in a real Celery worker process (settings read from the environment,
as in production): a sync task pulls mail from the fake Graph, and an archive in the app
reaches Outlook through the on-commit nudge alone."""

from __future__ import annotations

import json

import pytest

from inbox import services
from inbox.models import ChangeStatus, ConversationState, MailAccount, ProviderChange, ProviderRef
from inbox.services.nudge import SYNC_TASK, send_task_quietly
from tests.factories import switches
from tests.outlook.conftest import outlook_personal
from tests.waiting import wait_until
from tests.worker import purge_queue, running_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_worker_syncs_and_pushes_an_outlook_account(ms, alice, local_ca, monkeypatch):
    for name, value in {
        "MS_CLIENT_ID": ms.client_id,
        "MS_CLIENT_SECRET": ms.client_secret,
        "MS_AUTHORITY": ms.authority,
        "GRAPH_API_ENDPOINT": ms.graph_endpoint,
        "MS_CA_BUNDLE": str(local_ca.ca_file),
    }.items():
        monkeypatch.setenv(name, value)
    switches(alice, archive=True)
    ms.access_token_lifetime = 120  # the worker has to refresh through msal on its own
    account, mailbox = outlook_personal(ms, alice)
    ms.access_token_lifetime = 3600
    graph_id = mailbox.deliver(subject="Renewal", to=[alice.email])
    purge_queue()

    def conversation():  # type: ignore[no-untyped-def]
        ref = ProviderRef.objects.filter(account=account, key=graph_id).select_related("message").first()
        return ref.message.conversation if ref else None

    with running_worker():
        send_task_quietly(SYNC_TASK, account.pk)
        assert wait_until(lambda: conversation() is not None)
        assert conversation().state == ConversationState.INBOX

        result = services.archive_conversations(alice, [conversation().pk])
        change_id = result.changes[0].pk
        assert wait_until(lambda: ProviderChange.objects.get(pk=change_id).status == ChangeStatus.DONE)

    assert mailbox.folder_of(graph_id) == "archive"
    assert ms.token_grants() == ["authorization_code", "refresh_token"]
    # the worker stored the token it refreshed, encrypted, for the next task
    cache = json.loads(MailAccount.objects.get(pk=account.pk).credentials["token_cache"])
    assert {entry["secret"] for entry in cache["AccessToken"].values()} <= set(ms.access_tokens)
