"""A lost cursor loses nothing: after ``history.list`` answers 404 (Gmail keeps about a
week of history) the pull resyncs what arrived and then reconciles — every id that exists
is listed (ids only), and each known message missing from that list is deleted only when
Gmail confirms it (404, or in Trash), under the mass-delete guard."""

from __future__ import annotations

import pytest

from inbox.models import AccountStatus, Conversation, Message, ProviderRef
from inbox.services.mailboxes import resume_mailbox
from sync.models import FolderState
from tests.gmail.helpers import arrive, conversation_of, cursor, pull

pytestmark = pytest.mark.django_db


def test_a_client_delete_during_a_lost_cursor_is_deleted_after_the_reconcile_and_nothing_else(
    gmail, setup, mail
):
    ids = {
        name: arrive(setup, mail, subject=name)
        for name in ("kept", "trashed", "purged", "archived", "spam", "unlisted")
    }
    assert pull(setup).created == 6
    convs = {name: conversation_of(setup.account, gmail_id) for name, gmail_id in ids.items()}
    # While the app was not looking, and long enough for Gmail to drop the history:
    setup.mailbox.trash(ids["trashed"])
    setup.mailbox.delete_forever(ids["purged"])
    setup.mailbox.archive(ids["archived"])
    setup.mailbox.add_labels(ids["spam"], "SPAM")
    setup.mailbox.unlisted.add(ids["unlisted"])  # Gmail's listing misses it; it still exists
    new_id = arrive(setup, mail, subject="arrived during the gap")
    old_cursor = cursor(setup)
    setup.mailbox.expire_history()
    gmail.calls.clear()

    report = pull(setup)

    assert gmail.count("history.list", status=404) == 1
    assert report.created == 1 and report.deleted == 2
    assert conversation_of(setup.account, new_id) is not None
    gone = {name for name, conv in convs.items() if not Conversation.objects.filter(pk=conv.pk).exists()}
    assert gone == {"trashed", "purged"}
    # The reconcile listed ids only, the whole mailbox (no label, no date range).
    id_listings = [c for c in gmail.calls_to("messages.list") if "fields" in c.params]
    assert id_listings and all(c.params["fields"] == ["messages/id,nextPageToken"] for c in id_listings)
    assert all("labelIds" not in c.params and "q" not in c.params for c in id_listings)
    # Each candidate was confirmed one by one; the listed ones were not asked about.
    confirmed = {
        c.path.rsplit("/", 1)[1] for c in gmail.calls_to("messages.get") if c.params["format"] == ["minimal"]
    }
    assert {ids["trashed"], ids["purged"], ids["spam"], ids["unlisted"]} <= confirmed
    assert ids["kept"] not in confirmed and ids["archived"] not in confirmed
    assert int(cursor(setup)) > int(old_cursor)

    # …and incremental sync works again from the new cursor.
    setup.mailbox.delete_forever(ids["kept"])
    assert pull(setup).deleted == 1
    assert gmail.count("history.list", status=200) == 1


def test_a_reconcile_whose_confirmation_fails_deletes_nothing_until_gmail_confirms(gmail, alice_gmail, mail):
    trashed_id = arrive(alice_gmail, mail, subject="Trashed, but Gmail will not say")
    restored_id = arrive(alice_gmail, mail, subject="Trashed and restored, Gmail will not say")
    pull(alice_gmail)
    alice_gmail.mailbox.trash(trashed_id)
    alice_gmail.mailbox.trash(restored_id)
    alice_gmail.mailbox.expire_history()
    gmail.break_message(trashed_id, 500)
    gmail.break_message(restored_id, 500)

    report = pull(alice_gmail)

    assert report.deleted == 0
    assert ProviderRef.objects.filter(account=alice_gmail.account, key=trashed_id).exists()
    assert any("could not be checked" in note for note in report.notes)
    assert pull(alice_gmail).deleted == 0  # still no answer: still kept

    gmail.mend_message(trashed_id)
    gmail.mend_message(restored_id)
    alice_gmail.mailbox.untrash(restored_id)
    assert pull(alice_gmail).deleted == 1  # confirmed in Trash now; the restored one stays
    assert not ProviderRef.objects.filter(account=alice_gmail.account, key=trashed_id).exists()
    assert ProviderRef.objects.filter(account=alice_gmail.account, key=restored_id).exists()
    state = FolderState.objects.get(account=alice_gmail.account, folder="")
    assert "reconcile_recheck" not in state.extra


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_a_reconcile_that_would_delete_a_large_share_pauses_the_account(gmail, alice_gmail, mail, alice):
    ids = [arrive(alice_gmail, mail, subject=f"Deal {n}") for n in range(40)]
    pull(alice_gmail)
    for gmail_id in ids[:30]:
        alice_gmail.mailbox.trash(gmail_id)
    alice_gmail.mailbox.expire_history()

    report = pull(alice_gmail)

    alice_gmail.account.refresh_from_db()
    assert report.paused and report.deleted == 0
    assert alice_gmail.account.status == AccountStatus.PAUSED
    assert Message.objects.filter(account=alice_gmail.account).count() == 40

    alice_gmail.mailbox.untrash(ids[0])  # alice looks, restores one, and resumes
    resume_mailbox(alice, alice_gmail.account.pk)
    assert pull(alice_gmail).deleted == 29
    assert ProviderRef.objects.filter(account=alice_gmail.account, key=ids[0]).exists()
