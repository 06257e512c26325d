"""The shared rule: one message a provider refuses to return never stalls a mailbox — it is
retried with backoff, then quarantined with the reason, and listed on the status page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from inbox.types import RefData
from sync.faults import clear_fault, fetch_retries_due, record_fetch_failure, retry_delay, retrying_keys
from sync.models import FaultState, QuarantinedMessage
from sync.store import StoreOutcome, store_raw_message

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = "imap:INBOX:7:42"
RAW = b"From: ann@client.test\r\nSubject: late\r\nMessage-ID: <late@client.test>\r\n\r\nhello\r\n"


@override_settings(FETCH_RETRY_BASE_SECONDS=60)
def test_retry_delay_doubles_and_stops_at_six_hours():
    assert [retry_delay(n) for n in (1, 2, 3)] == [
        timedelta(seconds=60),
        timedelta(seconds=120),
        timedelta(seconds=240),
    ]
    assert retry_delay(30) == timedelta(hours=6)


@pytest.mark.django_db
@override_settings(FETCH_RETRY_MAX_ATTEMPTS=3, FETCH_RETRY_BASE_SECONDS=60)
def test_refused_message_is_retrying_until_due_then_quarantined_after_max_attempts(alice_mailbox):
    locator = {"folder": "INBOX", "uidvalidity": 7, "uid": 42}
    fault = record_fetch_failure(alice_mailbox, KEY, "FETCH answered NO", locator=locator, now=T0)
    assert (fault.state, fault.attempts, fault.next_retry_at) == (
        FaultState.RETRYING,
        1,
        T0 + timedelta(seconds=60),
    )
    assert retrying_keys(alice_mailbox) == {KEY}

    assert fetch_retries_due(alice_mailbox, now=T0 + timedelta(seconds=59)) == []
    due = fetch_retries_due(alice_mailbox, key_prefix="imap:INBOX:", now=T0 + timedelta(seconds=60))
    assert [(f.provider_key, f.locator) for f in due] == [(KEY, locator)]
    assert fetch_retries_due(alice_mailbox, key_prefix="imap:Sent:", now=T0 + timedelta(hours=1)) == []

    second = record_fetch_failure(alice_mailbox, KEY, "left out of the answer", now=T0 + timedelta(minutes=1))
    assert second.attempts == 2 and second.next_retry_at == T0 + timedelta(minutes=1, seconds=120)
    assert second.locator == locator  # kept from the first failure

    third = record_fetch_failure(alice_mailbox, KEY, "FETCH answered NO again", now=T0 + timedelta(minutes=5))
    assert (third.state, third.attempts, third.next_retry_at) == (FaultState.QUARANTINED, 3, None)
    assert third.reason == "FETCH answered NO again"
    assert retrying_keys(alice_mailbox) == set()
    assert fetch_retries_due(alice_mailbox, now=T0 + timedelta(days=1)) == []


@pytest.mark.django_db
def test_message_that_finally_arrives_clears_its_fault(alice_mailbox):
    record_fetch_failure(alice_mailbox, KEY, "FETCH answered NO", now=T0)
    ref = RefData(key=KEY, folder="INBOX", uidvalidity=7, uid=42)
    assert store_raw_message(alice_mailbox, RAW, ref) == StoreOutcome.CREATED
    assert not QuarantinedMessage.objects.filter(account=alice_mailbox).exists()


@pytest.mark.django_db
def test_faults_are_per_mailbox(alice_mailbox, bob_mailbox):
    record_fetch_failure(alice_mailbox, KEY, "NO", now=T0)
    record_fetch_failure(bob_mailbox, KEY, "NO", now=T0)
    clear_fault(alice_mailbox, KEY)
    assert retrying_keys(alice_mailbox) == set() and retrying_keys(bob_mailbox) == {KEY}


@pytest.mark.django_db
def test_status_page_lists_retrying_and_quarantined_messages(client, alice, alice_mailbox, bob):
    record_fetch_failure(alice_mailbox, KEY, "FETCH answered NO [UNAVAILABLE]", now=T0)
    QuarantinedMessage.objects.create(
        account=alice_mailbox,
        provider_key="imap:INBOX:7:9",
        state=FaultState.QUARANTINED,
        reason="could not be parsed",
    )
    client.force_login(alice)
    page = client.get(f"/settings/email-sync/accounts/{alice_mailbox.pk}/status/").content.decode()
    assert f'data-fault="{KEY}" data-state="retrying"' in page
    assert "FETCH answered NO [UNAVAILABLE]" in page and "1 retrying, 1 quarantined" in page

    client.force_login(bob)  # not his mailbox: the page (and its faults) is a 404
    assert client.get(f"/settings/email-sync/accounts/{alice_mailbox.pk}/status/").status_code == 404
