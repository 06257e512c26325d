"""One bad message never stalls an Outlook mailbox: a message Graph keeps refusing is
retried with backoff, then quarantined and listed on the status page, while the deltaLink
moves on for everything else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox.models import AccountStatus, ProviderRef
from sync.models import FaultState, FolderState, QuarantinedMessage
from tests.outlook.conftest import deliver, outlook_personal, pull

pytestmark = pytest.mark.django_db


def _make_retries_due(account) -> None:  # type: ignore[no-untyped-def]
    QuarantinedMessage.objects.filter(account=account).update(next_retry_at=datetime.now(UTC))


def test_a_message_whose_mime_graph_refuses_is_retried_while_the_rest_is_imported(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    pull(account)
    cursor = FolderState.objects.get(account=account, folder="inbox").cursor
    bad = deliver(mailbox, subject="Broken in the store")
    good = [deliver(mailbox, subject=f"Fine {i}") for i in range(3)]
    mailbox.fail_message(bad, op="value", status=500)
    report = pull(account)
    assert report.created == 3
    assert set(good) <= set(ProviderRef.objects.values_list("key", flat=True))
    fault = QuarantinedMessage.objects.get(account=account, provider_key=bad)
    assert fault.state == FaultState.RETRYING and fault.attempts == 1 and "500" in fault.reason
    # The deltaLink moved on: the bad message is not what holds the folder back.
    assert FolderState.objects.get(account=account, folder="inbox").cursor != cursor
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_a_retry_that_is_not_due_is_not_asked_for_and_a_due_one_is(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    bad = deliver(mailbox, subject="Flaky")
    mailbox.fail_message(bad, op="value", status=503)
    pull(account)
    asked = ms.count("value")
    pull(account)
    assert ms.count("value") == asked  # backing off
    mailbox.heal_message(bad)
    _make_retries_due(account)
    assert pull(account).created == 1
    assert ProviderRef.objects.filter(key=bad).exists()
    assert not QuarantinedMessage.objects.filter(account=account, provider_key=bad).exists()


def test_a_message_refused_every_time_is_quarantined_and_shown_on_the_status_page(
    ms, alice, client, settings
):
    settings.FETCH_RETRY_MAX_ATTEMPTS = 3
    account, mailbox = outlook_personal(ms, alice)
    bad = deliver(mailbox, subject="Never readable")
    mailbox.fail_message(bad, op="value", status=500, code="ErrorCorruptData")
    for _ in range(3):
        pull(account)
        _make_retries_due(account)
    fault = QuarantinedMessage.objects.get(account=account, provider_key=bad)
    assert fault.state == FaultState.QUARANTINED and "ErrorCorruptData" in fault.reason
    asked = ms.count("value")
    pull(account)
    assert ms.count("value") == asked  # quarantined: no longer asked for on every pull
    client.force_login(alice)
    page = client.get(f"/settings/email-sync/accounts/{account.pk}/status/").content.decode()
    assert "Quarantined" in page and "ErrorCorruptData" in page


def test_a_failing_where_did_it_go_check_is_retried_not_guessed(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = deliver(mailbox, subject="Moved somewhere")
    pull(account)
    mailbox.add_folder("Elsewhere")
    mailbox.move(graph_id, "Elsewhere")
    mailbox.fail_message(graph_id, op="get", status=500)
    report = pull(account)
    assert report.deleted == 0 and ProviderRef.objects.get(key=graph_id).folder == "inbox"
    fault = QuarantinedMessage.objects.get(account=account, provider_key=graph_id)
    assert fault.state == FaultState.RETRYING and fault.locator == {"kind": "resolve"}
    mailbox.delete_forever(graph_id)  # meanwhile the user deletes it for good
    mailbox.heal_message(graph_id)
    _make_retries_due(account)
    assert pull(account).deleted == 1  # the retried check finds it in Recoverable Items
    assert not QuarantinedMessage.objects.filter(account=account, provider_key=graph_id).exists()
