"""The Outlook outbox keeps its progress: a retry redoes only what is not done; Graph's
Retry-After defers a change without spending an attempt; a 429 without Retry-After (the
mailbox's concurrency limit) backs off; and pushes and pulls of one mailbox together never
have more than 4 requests in flight."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from inbox import services
from inbox.models import ChangeStatus, ProviderChange
from sync.providers.outlook import OutlookAdapter
from sync.providers.outlook import client as graph_client
from sync.pull import pull_account
from sync.push import push_account
from tests.factories import switches
from tests.fakes.graph_server import MAILBOX_CONCURRENCY
from tests.outlook.conftest import outlook_personal, seed

pytestmark = pytest.mark.django_db


def _due(account) -> None:  # type: ignore[no-untyped-def]
    ProviderChange.objects.filter(account=account, status=ChangeStatus.PENDING).update(
        next_attempt_at=timezone.now()
    )


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_a_change_of_1000_messages_failing_at_600_finishes_without_redoing_the_first_600(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    conversations = [seed(account, mailbox, subject=f"Lead {i}")[1].conversation_id for i in range(1000)]
    services.archive_conversations(alice, conversations)
    OutlookAdapter(account).folders()  # folder ids known already
    # 50 locate batches, then the 31st move batch (messages 601-620) fails as a whole.
    ms.fail("batch", times=1, status=500, retry_after=None, after=50 + 30)
    push_account(account.pk)
    change = ProviderChange.objects.get(account=account)
    assert change.status == ChangeStatus.PENDING and change.attempts == 1
    assert len(change.progress) == 600
    assert ms.count("move", status=201) == 600
    locates_before = ms.count("get", in_batch=True)
    _due(account)
    assert push_account(account.pk).done == 1
    change.refresh_from_db()
    assert change.status == ChangeStatus.DONE and change.attempts == 2
    assert len(mailbox.ids_in("archive")) == 1000 and not mailbox.ids_in("inbox")
    # The second attempt located and moved only the 400 that were left.
    assert ms.count("get", in_batch=True) - locates_before == 400
    assert ms.count("move", status=201) == 1000


def test_a_429_storm_spends_no_attempts(ms, alice, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    graph_id, result = seed(account, mailbox)
    services.archive_conversations(alice, [result.conversation_id])
    OutlookAdapter(account).folders()
    ms.fail("batch", times=6, status=429, retry_after="1")
    for _ in range(6):
        before = timezone.now()
        push_account(account.pk)
        change = ProviderChange.objects.get(account=account)
        assert change.status == ChangeStatus.PENDING and change.attempts == 0
        # Retry-After: 1, not the exponential backoff
        assert change.next_attempt_at < before + timedelta(seconds=10)
        _due(account)
    assert push_account(account.pk).done == 1
    change.refresh_from_db()
    assert change.attempts == 1 and mailbox.folder_of(graph_id) == "archive"


def test_a_throttled_part_with_retry_after_defers_by_it_without_an_attempt(ms, alice, settings):
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 300
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    graph_id, result = seed(account, mailbox)
    services.archive_conversations(alice, [result.conversation_id])
    ms.fail("move", times=1, status=429, retry_after="2")
    before = timezone.now()
    push_account(account.pk)
    change = ProviderChange.objects.get(account=account)
    assert change.attempts == 0 and mailbox.folder_of(graph_id) == "inbox"
    assert before + timedelta(seconds=2) <= change.next_attempt_at < before + timedelta(seconds=60)


def test_a_concurrency_429_without_retry_after_backs_off_without_spending_an_attempt(ms, alice, settings):
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 30
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    graph_id, result = seed(account, mailbox)
    services.archive_conversations(alice, [result.conversation_id])
    ms.fail("move", times=1, status=429, retry_after=None)
    before = timezone.now()
    push_account(account.pk)
    change = ProviderChange.objects.get(account=account)
    # Throttled, not failed: the attempt is given back, and the outbox's backoff is waited.
    assert change.status == ChangeStatus.PENDING and change.attempts == 0
    assert change.next_attempt_at >= before + timedelta(seconds=15)
    _due(account)
    assert push_account(account.pk).done == 1
    assert ms.count("move", status=201) == 1 and mailbox.folder_of(graph_id) == "archive"


def test_a_whole_request_refused_for_concurrency_is_asked_again_after_a_pause(ms, alice, monkeypatch):
    pauses: list[int] = []  # the client's backoff, by attempt (the seconds are its own business)
    monkeypatch.setattr(graph_client, "_pause", pauses.append)
    account, mailbox = outlook_personal(ms, alice)
    mailbox.deliver(subject="Hello", to=[mailbox.address])
    ms.fail("delta", times=2, status=429, retry_after=None)
    summary = pull_account(account.pk)
    assert not summary.error and summary.report.created == 1
    assert ms.count("delta", status=429) == 2
    assert pauses == [0, 1]  # a pause before each of the two requests asked again


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_pushes_and_pulls_of_one_mailbox_together_never_exceed_4_requests_in_flight(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    conversations = [seed(account, mailbox, subject=f"Deal {i}")[1].conversation_id for i in range(60)]
    for i in range(40):
        mailbox.deliver(subject=f"New {i}", to=[mailbox.address])
    services.archive_conversations(alice, conversations)
    OutlookAdapter(account).folders()
    errors: list[BaseException] = []

    def run(work) -> None:  # type: ignore[no-untyped-def]
        try:
            work()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(lambda: push_account(account.pk),)),
        threading.Thread(target=run, args=(lambda: pull_account(account.pk),)),
        threading.Thread(target=run, args=(lambda: pull_account(account.pk),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert mailbox.max_in_flight <= MAILBOX_CONCURRENCY
    assert ms.concurrency_rejections == 0
    assert len(mailbox.ids_in("archive")) == 60
