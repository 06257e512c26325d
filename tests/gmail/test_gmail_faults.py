"""One bad message never stalls a Gmail mailbox: a message whose ``messages.get`` keeps
failing (a batch part, or the call alone) is retried with backoff, then quarantined with
the reason and listed on the status page, while the historyId moves on for the rest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import AccountStatus
from inbox.services.mailboxes import resume_mailbox
from sync.models import FaultState, QuarantinedMessage
from sync.providers.gmail import pull as gmail_pull
from sync.pull import pull_account
from tests.gmail.helpers import arrive, conversation_of, cursor, pull

pytestmark = pytest.mark.django_db


def fault(setup, gmail_id) -> QuarantinedMessage:  # type: ignore[no-untyped-def]
    return QuarantinedMessage.objects.get(account=setup.account, provider_key=gmail_id)


def make_due(setup) -> None:  # type: ignore[no-untyped-def]
    """Instead of sleeping through the backoff: the retrying faults are due now."""
    QuarantinedMessage.objects.filter(account=setup.account, state=FaultState.RETRYING).update(
        next_retry_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_message_gmail_keeps_refusing_is_retried_then_quarantined_and_the_cursor_moves_on(
    gmail, setup, mail, settings
):
    settings.FETCH_RETRY_MAX_ATTEMPTS = 3
    arrive(setup, mail, subject="Before")
    bad_id = arrive(setup, mail, subject="Gmail cannot read this one")
    arrive(setup, mail, subject="After")
    gmail.break_message(bad_id, 500, in_batch=True)  # its batch part fails, every time

    report = pull(setup)

    assert report.created == 2
    assert cursor(setup) == str(setup.mailbox.history_id)  # moved on for the rest
    row = fault(setup, bad_id)
    assert row.state == FaultState.RETRYING and row.attempts == 1 and "500" in row.reason
    assert row.next_retry_at > timezone.now()
    asked = len(gmail.gets_of(bad_id))

    pull(setup)  # not due yet: not asked again
    assert len(gmail.gets_of(bad_id)) == asked

    make_due(setup)
    pull(setup)  # due: asked again, refused again
    assert len(gmail.gets_of(bad_id)) == asked + 1
    assert fault(setup, bad_id).attempts == 2

    make_due(setup)
    pull(setup)
    row = fault(setup, bad_id)
    assert row.state == FaultState.QUARANTINED and row.attempts == 3 and row.next_retry_at is None
    assert conversation_of(setup.account, bad_id) is None
    make_due(setup)
    pull(setup)  # given up on: no longer asked on every pull
    assert len(gmail.gets_of(bad_id)) == asked + 2


def test_a_refused_message_arrives_on_a_later_pull_once_gmail_returns_it(gmail, setup, mail):
    arrive(setup, mail, subject="Known")
    pull(setup)
    bad_id = arrive(setup, mail, subject="Refused for a while")
    fine_id = arrive(setup, mail, subject="Fine")
    gmail.break_message(bad_id, 503)  # alone or in a batch, every format
    start = cursor(setup)

    assert pull(setup).created == 1
    assert conversation_of(setup.account, fine_id) is not None
    assert int(cursor(setup)) > int(start)
    assert fault(setup, bad_id).state == FaultState.RETRYING

    gmail.mend_message(bad_id)
    make_due(setup)
    report = pull(setup)

    assert report.created == 1
    assert conversation_of(setup.account, bad_id) is not None
    assert not QuarantinedMessage.objects.filter(account=setup.account).exists()


def test_a_big_message_refused_when_fetched_alone_does_not_stall_the_mailbox(
    gmail, alice_gmail, mail, monkeypatch
):
    monkeypatch.setattr(gmail_pull, "SOLO_FETCH_BYTES", 20_000)
    raw, _ = mail.make_large(60_000, to=alice_gmail.account.address)
    big_id = alice_gmail.mailbox.deliver(raw)
    fine_id = arrive(alice_gmail, mail, subject="Fine")
    gmail.break_message(big_id, 500, in_batch=False, formats=["raw"])

    report = pull(alice_gmail)

    assert report.created == 1 and conversation_of(alice_gmail.account, fine_id) is not None
    refused = gmail.gets_of(big_id, fmt="raw", status=500)
    assert len(refused) == 1 and not refused[0].in_batch
    assert fault(alice_gmail, big_id).state == FaultState.RETRYING
    assert cursor(alice_gmail) == str(alice_gmail.mailbox.history_id)


def test_a_403_on_one_message_fails_that_message_not_the_account(gmail, setup, mail):
    forbidden_id = arrive(setup, mail, subject="Forbidden")
    fine_id = arrive(setup, mail, subject="Fine")
    gmail.break_message(forbidden_id, 403, reason="forbidden")

    report = pull(setup)

    setup.account.refresh_from_db()
    assert setup.account.status == AccountStatus.ACTIVE and not setup.account.last_sync_error
    assert report.created == 1 and conversation_of(setup.account, fine_id) is not None
    assert "403" in fault(setup, forbidden_id).reason


def test_a_message_deleted_in_gmail_while_retrying_is_forgotten(gmail, alice_gmail, mail):
    bad_id = arrive(alice_gmail, mail, subject="Refused, then deleted")
    gmail.break_message(bad_id, 500)
    pull(alice_gmail)
    assert fault(alice_gmail, bad_id).state == FaultState.RETRYING

    alice_gmail.mailbox.delete_forever(bad_id)
    make_due(alice_gmail)
    pull(alice_gmail)

    assert not QuarantinedMessage.objects.filter(account=alice_gmail.account).exists()


def test_refused_messages_are_listed_on_the_status_page(gmail, alice_gmail, mail, client, alice):
    bad_id = arrive(alice_gmail, mail, subject="Refused")
    gmail.break_message(bad_id, 500)
    pull(alice_gmail)

    client.force_login(alice)
    page = client.get(f"/settings/email-sync/accounts/{alice_gmail.account.pk}/status/").content.decode()

    assert f'data-fault="{bad_id}" data-state="retrying"' in page
    assert "Gmail would not return this message" in page


def test_a_401_in_a_batch_part_is_the_account_not_the_message(gmail, alice_gmail, mail):
    gmail_id = arrive(alice_gmail, mail, subject="Fine")
    gmail.fail("messages.get", 401, reason="authError", times=5, in_batch=True)

    summary = pull_account(alice_gmail.account.pk)

    alice_gmail.account.refresh_from_db()
    assert summary.error and alice_gmail.account.status == AccountStatus.NEEDS_REAUTH
    assert not QuarantinedMessage.objects.filter(account=alice_gmail.account).exists()
    assert conversation_of(alice_gmail.account, gmail_id) is None


def test_a_held_deletion_gmail_will_not_answer_for_does_not_stall_the_mailbox(
    gmail, alice_gmail, mail, alice, settings
):
    settings.MASS_DELETE_MIN_COUNT = 2
    ids = [arrive(alice_gmail, mail, subject=f"Deal {n}") for n in range(5)]
    pull(alice_gmail)
    for gmail_id in ids[:3]:
        alice_gmail.mailbox.trash(gmail_id)
    assert pull(alice_gmail).paused  # the guard holds the three deletions
    gmail.break_message(ids[0], 500)  # Gmail will not say what became of this one, for now
    resume_mailbox(alice, alice_gmail.account.pk)
    later_id = arrive(alice_gmail, mail, subject="Arrived after the resume")

    report = pull(alice_gmail)

    alice_gmail.account.refresh_from_db()
    assert alice_gmail.account.status == AccountStatus.ACTIVE
    assert report.created == 1 and conversation_of(alice_gmail.account, later_id) is not None
    assert report.deleted == 2  # the two Gmail confirmed in Trash
    assert conversation_of(alice_gmail.account, ids[0]) is not None  # unconfirmed: kept
    assert cursor(alice_gmail) == str(alice_gmail.mailbox.history_id)

    gmail.mend_message(ids[0])
    assert pull(alice_gmail).deleted == 1  # confirmed in Trash on a later pull
    assert conversation_of(alice_gmail.account, ids[0]) is None
