"""Outlook pull: first sync, delta rounds per folder, @removed resolved into "deleted" or
"moved", 410 → resync that only adds, the mass-delete guard."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox import services
from inbox.models import (
    AccountStatus,
    AuditAction,
    AuditEvent,
    Conversation,
    ConversationState,
    Direction,
    Message,
    ProviderRef,
    Tombstone,
)
from sync.models import FolderState
from sync.providers.outlook import pull as outlook_pull
from sync.pull import pull_account
from tests.outlook.conftest import deliver, outlook_personal, outlook_team, pull

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)


def _deliver(mailbox, *, folder: str = "inbox", days_ago: float = 1, **fields):  # type: ignore[no-untyped-def]
    """A day old unless the test says otherwise."""
    return deliver(mailbox, folder, days_ago=days_ago, **fields)


def _conversation(graph_id: str) -> Conversation:
    return ProviderRef.objects.get(key=graph_id).message.conversation


def test_first_sync_imports_inbox_and_sent_items_of_the_past_days(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    asked = _deliver(mailbox, subject="Pricing?", sender="kim@client.test", message_id="<ask@client.test>")
    answered = _deliver(
        mailbox,
        folder="sentitems",
        subject="Re: Pricing?",
        sender=alice.email,
        to=["kim@client.test"],
        in_reply_to="<ask@client.test>",
    )
    _deliver(mailbox, subject="Ancient", days_ago=200)
    _deliver(mailbox, folder="archive", subject="Filed away")
    _deliver(mailbox, folder="deleteditems", subject="Binned")
    report = pull(account)
    assert report.created == 2
    conversation = _conversation(asked)
    assert _conversation(answered) == conversation
    assert conversation.message_count == 2 and conversation.state == ConversationState.INBOX
    sent = ProviderRef.objects.get(key=answered)
    assert sent.folder == "sentitems" and sent.message.direction == Direction.OUTGOING
    assert ProviderRef.objects.get(key=asked).thread_id.startswith("CONV-")
    assert not Message.objects.filter(subject__in=["Ancient", "Filed away", "Binned"]).exists()
    states = FolderState.objects.filter(account=account).exclude(folder="")
    assert {s.folder for s in states if s.cursor} == {"inbox", "sentitems", "archive", "deleteditems"}
    account.refresh_from_db()
    assert account.initial_sync_finished_at is not None and account.initial_sync_done == 2
    # folder ids, one delta page per folder, one MIME download per new message
    assert ms.batch_sizes() == [7]  # the well-known folders sync and push use
    assert ms.count("delta") == 4 and ms.count("value") == 2
    assert ms.calls_without_immutable_id == 0


def test_first_sync_follows_delta_pages_and_a_later_sync_fetches_only_new_mail(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    for i in range(23):
        _deliver(mailbox, subject=f"Lead {i}", days_ago=2 + i / 10)
    assert pull(account).created == 23
    assert ms.count("delta") == 3 + 3  # inbox in 3 pages of ≤ 10, one page per other folder
    fresh = _deliver(mailbox, subject="Fresh", days_ago=0)
    before = ms.count("value")
    report = pull(account)
    assert report.created == 1 and ms.count("value") == before + 1
    assert _conversation(fresh).subject == "Fresh"
    assert pull(account).created == 0


def test_moved_to_deleted_items_in_outlook_deletes_it_in_the_app(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = _deliver(mailbox, subject="Spam-ish")
    keep = _deliver(mailbox, subject="Keep")
    pull(account)
    conversation_id = _conversation(graph_id).pk
    mailbox.move(graph_id, "deleteditems")
    report = pull(account)
    assert report.deleted == 1
    assert not Conversation.objects.filter(pk=conversation_id).exists()
    assert Tombstone.objects.filter(account=account, provider_key=graph_id).exists()
    event = AuditEvent.objects.get(action=AuditAction.EXTERNAL_DELETE)
    assert "Outlook" in event.summary and event.conversation_ids == [conversation_id]
    assert ms.count("get") == 0  # Deleted Items' own delta said where it went
    assert ProviderRef.objects.filter(key=keep).exists()


def test_shift_delete_in_outlook_lands_in_recoverable_items_and_deletes_it_in_the_app(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = _deliver(mailbox, subject="Gone")
    pull(account)
    mailbox.delete_forever(graph_id)
    assert pull(account).deleted == 1
    assert not ProviderRef.objects.filter(key=graph_id).exists()
    assert ms.count("get", status=200, in_batch=True) == 1  # found in recoverableitemsdeletions


def test_archived_in_outlook_has_no_effect_in_the_app(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = _deliver(mailbox, subject="Archive me there")
    pull(account)
    mailbox.move(graph_id, "archive")
    report = pull(account)
    assert report.deleted == 0
    ref = ProviderRef.objects.get(key=graph_id)
    assert ref.folder == "archive"  # only the reference follows it
    assert ref.message.conversation.state == ConversationState.INBOX
    assert ms.count("get") == 0


def test_moved_to_another_outlook_folder_has_no_effect_in_the_app(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    custom = mailbox.add_folder("Customers")
    graph_id = _deliver(mailbox, subject="Filed")
    pull(account)
    mailbox.move(graph_id, "Customers")
    assert pull(account).deleted == 0
    ref = ProviderRef.objects.get(key=graph_id)
    assert ref.folder == custom and ref.message.conversation.state == ConversationState.INBOX
    assert ms.count("get", in_batch=True, status=200) == 1  # asked where it went


def test_archived_then_binned_in_outlook_is_deleted_in_the_app(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = _deliver(mailbox, subject="Later binned")
    pull(account)
    mailbox.move(graph_id, "archive")
    pull(account)
    mailbox.move(graph_id, "deleteditems")
    assert pull(account).deleted == 1
    assert not ProviderRef.objects.filter(key=graph_id).exists()


def test_a_sent_message_binned_in_outlook_is_deleted_in_the_app(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = _deliver(
        mailbox, folder="sentitems", subject="Offer", sender=alice.email, to=["kim@client.test"]
    )
    pull(account)
    mailbox.move(graph_id, "deleteditems")
    assert pull(account).deleted == 1


def test_delta_expired_resyncs_and_reconciles_deleting_only_what_is_confirmed_deleted(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    shift_deleted = _deliver(mailbox, subject="Shift+Deleted")
    purged = _deliver(mailbox, subject="Purged")
    filed = _deliver(mailbox, subject="Filed in a project folder")
    archived_away = _deliver(mailbox, subject="Moved to the online archive")
    untouched = _deliver(mailbox, subject="Still here")
    pull(account)
    old_cursor = FolderState.objects.get(account=account, folder="inbox").cursor
    mailbox.delete_forever(shift_deleted)
    mailbox.purge(purged)
    mailbox.add_folder("Projects")
    mailbox.move(filed, "Projects")
    mailbox.move_to_online_archive(archived_away)
    fresh = _deliver(mailbox, subject="Arrived meanwhile", days_ago=0)
    mailbox.expire_delta("inbox")
    report = pull(account)
    assert any("410" in note for note in report.notes)
    assert report.created == 1 and report.deleted == 1
    assert ProviderRef.objects.filter(key=fresh).exists()
    # The client delete during the lost cursor is deleted; nothing else is: a 404 (purged,
    # or a new id in the online archive) is no evidence, another folder is a move.
    assert not ProviderRef.objects.filter(key=shift_deleted).exists()
    assert set(ProviderRef.objects.values_list("key", flat=True)) == {
        untouched,
        purged,
        filed,
        archived_away,
        fresh,
    }
    assert ProviderRef.objects.get(key=filed).folder == mailbox.folders["Projects"]
    assert ms.count("delta", status=410) == 1
    assert ms.count("list") == 1  # the ids the Inbox holds, listed once
    new_cursor = FolderState.objects.get(account=account, folder="inbox").cursor
    assert new_cursor and new_cursor != old_cursor
    # and the next round is an ordinary delta again
    later = _deliver(mailbox, subject="After the resync", days_ago=0)
    assert pull(account).created == 1 and ProviderRef.objects.filter(key=later).exists()


def test_a_message_deleted_in_the_app_is_never_imported_again(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = _deliver(mailbox, subject="Not interested")
    pull(account)
    services.delete_conversations(alice, [_conversation(graph_id).pk])  # delete switch off
    assert mailbox.folder_of(graph_id) == "inbox"
    mailbox.mark_read(graph_id)  # delta reports it again
    report = pull(account)
    assert report.created == 0 and report.tombstoned == 1
    mailbox.expire_delta("inbox")  # even a full resync does not bring it back
    report = pull(account)
    assert report.created == 0 and report.tombstoned == 1
    assert not Message.objects.filter(account=account).exists()
    assert ms.count("value") == 1  # never downloaded again


def test_an_archived_conversation_stays_archived_until_a_new_message_arrives(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = _deliver(mailbox, subject="Contract", message_id="<contract@client.test>")
    pull(account)
    conversation = _conversation(graph_id)
    services.archive_conversations(alice, [conversation.pk])  # archive switch off
    mailbox.mark_read(graph_id)
    pull(account)
    pull(account)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ARCHIVED
    _deliver(mailbox, subject="Re: Contract", in_reply_to="<contract@client.test>", days_ago=0)
    assert pull(account).created == 1
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.INBOX and conversation.message_count == 2


def test_many_deletions_at_once_pause_the_account_until_the_user_resumes(ms, alice, settings):
    settings.MASS_DELETE_MIN_COUNT = 5
    settings.MASS_DELETE_MAX_SHARE = 0.2
    account, mailbox = outlook_personal(ms, alice)
    ids = [_deliver(mailbox, subject=f"Thread {i}") for i in range(10)]
    pull(account)
    for graph_id in ids[:6]:
        mailbox.move(graph_id, "deleteditems")
    summary = pull_account(account.pk)
    assert summary.report.paused and summary.report.deleted == 0
    account.refresh_from_db()
    assert account.status == AccountStatus.PAUSED and "6 of 10" in account.status_reason
    assert Message.objects.filter(account=account).count() == 10
    assert pull_account(account.pk).skipped_reason  # paused accounts are not pulled
    mailbox.move(ids[0], "inbox")  # the user rescued one while looking
    services.resume_mailbox(alice, account.pk)
    report = pull(account)
    assert report.deleted == 5
    assert ProviderRef.objects.filter(key=ids[0]).exists()
    assert Message.objects.filter(account=account).count() == 5


def test_a_message_above_the_body_cap_is_imported_from_its_headers_text_and_attachment_list(
    ms, alice, monkeypatch
):
    monkeypatch.setattr(outlook_pull, "MAX_FETCH_BYTES", 64 * 1024)
    account, mailbox = outlook_personal(ms, alice)
    graph_id = mailbox.deliver_large(
        1024 * 1024, subject="Big attachment", text="Here is the signed contract.", to=[alice.email]
    )
    assert pull(account).created == 1
    message = ProviderRef.objects.get(key=graph_id).message
    assert message.subject == "Big attachment" and "signed contract" in message.text
    assert "too large to import whole — open in Outlook" in message.parse_problems[0]
    # Listed without its bytes (tests/outlook/test_outlook_large_message_attachments.py).
    assert [(a["filename"], a["part"], bool(a["provider_id"])) for a in message.attachments] == [
        ("big.bin", "", True)
    ]


def test_the_apps_own_moves_do_not_look_like_deletions(ms, alice):
    from sync.push import push_account
    from tests.factories import switches

    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    graph_id = _deliver(mailbox, subject="Archive from the app")
    pull(account)
    conversation = _conversation(graph_id)
    services.archive_conversations(alice, [conversation.pk])
    push_account(account.pk)
    assert mailbox.folder_of(graph_id) == "archive"
    gets = ms.count("get")
    report = pull(account)
    assert report.deleted == 0 and ms.count("get") == gets
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ARCHIVED


def test_a_shared_team_mailbox_is_pulled_through_the_users_path(ms, acme, alice, bob):
    account, mailbox = outlook_team(ms, acme, [alice, bob], "sales@acme.test", shared_by=alice)
    graph_id = _deliver(mailbox, subject="Team inquiry")
    ms.mailboxes["alice@acme.test"].deliver(subject="Alice's own mail")
    assert pull(account).created == 1
    assert _conversation(graph_id).account == account
    assert all(c.path.startswith("/v1.0/users/sales%40acme.test/") for c in ms.calls_of("delta"))


def test_a_big_first_sync_continues_where_it_stopped_on_the_next_pull(ms, alice, monkeypatch):
    monkeypatch.setattr(outlook_pull, "MAX_IMPORTS_PER_PULL", 5)
    account, mailbox = outlook_personal(ms, alice)
    for i in range(12):
        _deliver(mailbox, subject=f"Old thread {i}", days_ago=3 + i)
    assert pull(account).created == 5
    # The deltaLink is kept at once; the rest waits in the folder's backlog.
    assert FolderState.objects.get(account=account, folder="inbox").cursor
    assert len(FolderState.objects.get(account=account, folder="inbox").extra["backlog"]) == 7
    account.refresh_from_db()
    assert account.initial_sync_finished_at is None
    assert pull(account).created == 5
    assert pull(account).created == 2
    assert FolderState.objects.get(account=account, folder="inbox").extra["backlog"] == []
    account.refresh_from_db()
    assert account.initial_sync_finished_at is not None
    assert Message.objects.filter(account=account).count() == 12
    assert ms.count("value") == 12  # nothing downloaded twice


def test_a_throttled_download_keeps_what_is_left_and_the_next_pull_finishes(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    for i in range(3):
        _deliver(mailbox, subject=f"Thread {i}")
    pull(account)
    new = [_deliver(mailbox, subject=f"New {i}", days_ago=0) for i in range(3)]
    cursor = FolderState.objects.get(account=account, folder="inbox").cursor
    ms.fail("value", times=1, retry_after="10")
    summary = pull_account(account.pk)
    assert "Graph is busy" in summary.error
    account.refresh_from_db()
    assert account.last_sync_error.startswith("temporary:")
    inbox = FolderState.objects.get(account=account, folder="inbox")
    assert inbox.cursor != cursor and len(inbox.extra["backlog"]) == 3  # nothing lost
    assert not Message.objects.filter(subject__startswith="New").exists()
    assert pull(account).created == 3
    assert set(new) <= set(ProviderRef.objects.values_list("key", flat=True))
    assert ms.count("delta", status=410) == 0


def test_a_message_sent_without_its_size_is_read_only_up_to_the_body_cap(ms, alice, monkeypatch):
    monkeypatch.setattr(outlook_pull, "MAX_FETCH_BYTES", 64 * 1024)
    ms.chunked_values = True  # no Content-Length: the cap is found by reading
    account, mailbox = outlook_personal(ms, alice)
    big = mailbox.deliver_large(
        2 * 1024 * 1024, subject="Streamed", text="Drawings attached.", to=[alice.email]
    )
    small = _deliver(mailbox, subject="Small one", text="Short and sweet")
    assert pull(account).created == 2
    streamed = ProviderRef.objects.get(key=big).message
    assert "Drawings attached." in streamed.text
    assert "too large to import whole — open in Outlook" in streamed.parse_problems[0]
    whole = ProviderRef.objects.get(key=small).message
    assert "Short and sweet" in whole.text and not whole.parse_problems
