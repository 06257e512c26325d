"""A pull cut short loses no evidence: the deltaLinks are stored before the pull looks
where known messages went (Exchange keeps only a few delta generations), so what the rounds
said — a known message left a folder, arrived in Deleted Items, or a folder's delta state
expired and must be reconciled — is kept with them until it has been acted on. A pull
throttled or failing half-way leaves it for the next pull instead of dropping it."""

from __future__ import annotations

import pytest

from inbox.models import Conversation, ProviderRef
from sync.pull import pull_account
from tests.outlook.conftest import deliver, outlook_personal, pull

pytestmark = pytest.mark.django_db


def _conversation(graph_id: str) -> int:
    return ProviderRef.objects.get(key=graph_id).message.conversation_id


def test_a_shift_delete_seen_by_a_pull_that_failed_half_way_is_deleted_by_the_next(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    purged = deliver(mailbox, subject="Shift+Deleted")
    filed = deliver(mailbox, subject="Filed in a folder of its own")
    kept = deliver(mailbox, subject="Stays in the Inbox")
    pull(account)
    purged_conversation = _conversation(purged)
    mailbox.delete_forever(purged)
    mailbox.move(filed, mailbox.add_folder("Customers"))
    # Asking Graph where the two went fails as a whole, after the deltaLinks moved on.
    ms.fail("batch", times=1, status=503, retry_after=None)
    assert pull_account(account.pk).error

    report = pull(account)

    assert report.deleted == 1
    assert not Conversation.objects.filter(pk=purged_conversation).exists()
    assert ProviderRef.objects.get(key=filed).folder not in ("inbox", "")
    assert ProviderRef.objects.filter(key=kept).exists()
    assert pull(account).deleted == 0  # acted on once, then forgotten


def test_a_message_seen_arriving_in_deleted_items_by_a_throttled_pull_is_deleted_by_the_next(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    trashed = deliver(mailbox, subject="Binned in Outlook")
    pull(account)
    mailbox.move(trashed, "deleteditems")
    deliver(mailbox, subject="New while binning")
    # Graph throttles the new message's download: the pull stops before looking at deletions.
    ms.fail("value", times=1, status=429, retry_after="1")
    assert pull_account(account.pk).error

    report = pull(account)

    assert report.deleted == 1 and report.created == 1
    assert not ProviderRef.objects.filter(key=trashed).exists()


def test_a_reconcile_after_a_lost_cursor_that_failed_half_way_is_done_by_the_next_pull(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    purged = deliver(mailbox, subject="Shift+Deleted while we were away")
    kept = deliver(mailbox, subject="Still in the Inbox")
    pull(account)
    mailbox.delete_forever(purged)
    mailbox.expire_delta("inbox")
    # The resync works; the ids-only listing of the reconcile fails.
    ms.fail("list", times=1, status=503, retry_after=None)
    assert pull_account(account.pk).error
    assert ProviderRef.objects.filter(key=purged).exists()

    report = pull(account)

    assert report.deleted == 1
    assert not ProviderRef.objects.filter(key=purged).exists()
    assert ProviderRef.objects.filter(key=kept).exists()
    assert ms.count("delta", status=410) == 1  # the next pull had a valid deltaLink
    listings = ms.count("list")
    pull(account)
    assert ms.count("list") == listings  # reconciled once, then forgotten
