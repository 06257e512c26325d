"""Outlook push: app actions become Graph moves, in $batch calls of ≤ 20 with at most 4
requests in flight per mailbox, idempotent and throttling-proof."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import services
from inbox.models import ChangeStatus, ProviderChange, ProviderRef
from sync.providers.outlook import OutlookAdapter
from sync.push import push_account
from tests.factories import switches
from tests.fakes.graph_server import MAILBOX_CONCURRENCY
from tests.outlook.conftest import outlook_personal, outlook_team, seed

pytestmark = pytest.mark.django_db


def _changes(account) -> list[ProviderChange]:  # type: ignore[no-untyped-def]
    return list(ProviderChange.objects.filter(account=account).order_by("id"))


def _drain(account, *, max_rounds: int = 20) -> int:  # type: ignore[no-untyped-def]
    """Push until nothing is left, moving each retry's time forward instead of sleeping."""
    for rounds in range(1, max_rounds + 1):
        push_account(account.pk)
        waiting = ProviderChange.objects.filter(account=account, status=ChangeStatus.PENDING)
        if not waiting.exists():
            return rounds
        waiting.update(next_attempt_at=timezone.now())
    raise AssertionError("changes still pending")


def _clean_traffic(ms, mailbox) -> None:  # type: ignore[no-untyped-def]
    assert ms.calls_without_immutable_id == 0
    assert ms.concurrency_rejections == 0
    assert mailbox.max_in_flight <= MAILBOX_CONCURRENCY


def test_archive_moves_the_conversation_to_archive_in_one_locate_and_one_move_batch(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    first, result = seed(account, mailbox, subject="Quote")
    second, _ = seed(account, mailbox, subject="Something else")
    third, _ = seed(account, mailbox, subject="Quote")  # threads onto the first by subject
    assert ProviderRef.objects.filter(message__conversation_id=result.conversation_id).count() == 2
    services.archive_conversations(alice, [result.conversation_id])
    assert push_account(account.pk).done == 1
    assert mailbox.folder_of(first) == mailbox.folder_of(third) == "archive"
    assert mailbox.folder_of(second) == "inbox"  # another conversation
    # folder ids (once per mailbox), where are they, move them
    assert ms.batch_sizes() == [7, 2, 2]
    assert ms.count("move", in_batch=True) == 2 and ms.count("move", in_batch=False) == 0
    change = _changes(account)[0]
    assert change.status == ChangeStatus.DONE
    assert change.result == {"moved": 2, "already_there": 0, "gone": 0}
    folders = ProviderRef.objects.filter(key__in=[first, third]).values_list("folder", flat=True)
    assert set(folders) == {"archive"}
    _clean_traffic(ms, mailbox)


def test_a_conversations_sent_messages_stay_in_sent_items_when_it_is_archived(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    received, result = seed(account, mailbox, subject="Demo", message_id="<demo@client.test>")
    sent, reply = seed(
        account, mailbox, folder="sentitems", subject="Re: Demo", in_reply_to="<demo@client.test>"
    )
    assert reply.conversation_id == result.conversation_id
    services.archive_conversations(alice, [result.conversation_id])
    push_account(account.pk)
    assert mailbox.folder_of(received) == "archive"
    assert mailbox.folder_of(sent) == "sentitems"
    assert _changes(account)[0].result["left_alone"] == {"sentitems": 1}


def test_unarchive_moves_back_only_what_sits_in_the_archive(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    received, result = seed(account, mailbox, subject="Demo", message_id="<d2@client.test>")
    sent, _ = seed(account, mailbox, folder="sentitems", subject="Re: Demo", in_reply_to="<d2@client.test>")
    services.archive_conversations(alice, [result.conversation_id])
    services.unarchive_conversations(alice, [result.conversation_id])
    push_account(account.pk)
    assert mailbox.folder_of(received) == "inbox" and mailbox.folder_of(sent) == "sentitems"
    archive, unarchive = _changes(account)
    assert archive.result["moved"] == 1 and unarchive.result["moved"] == 1
    # The two changes touch the same messages: the second waits for the first's batches.
    assert ms.batch_sizes() == [7, 2, 1, 2, 1]


def test_trash_moves_every_message_of_the_conversation_to_deleted_items(ms, alice):
    switches(alice, delete=True)
    account, mailbox = outlook_personal(ms, alice)
    received, result = seed(account, mailbox, subject="Bye", message_id="<bye@client.test>")
    sent, _ = seed(account, mailbox, folder="sentitems", subject="Re: Bye", in_reply_to="<bye@client.test>")
    services.delete_conversations(alice, [result.conversation_id])
    push_account(account.pk)
    assert mailbox.folder_of(received) == mailbox.folder_of(sent) == "deleteditems"
    assert received in mailbox.messages  # moved to Deleted Items, never purged
    assert _changes(account)[0].status == ChangeStatus.DONE


def test_a_message_already_where_the_action_puts_it_is_skipped(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    graph_id, result = seed(account, mailbox)
    mailbox.move(graph_id, "archive")  # the user archived it in Outlook too
    services.archive_conversations(alice, [result.conversation_id])
    push_account(account.pk)
    assert ms.count("move") == 0
    change = _changes(account)[0]
    assert change.status == ChangeStatus.DONE and change.result["already_there"] == 1


def test_pushing_the_same_change_twice_moves_nothing_the_second_time(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    graph_id, result = seed(account, mailbox)
    services.archive_conversations(alice, [result.conversation_id])
    push_account(account.pk)
    # A worker that died after Graph answered: the change is handed out again.
    # It died before its progress was written, too.
    ProviderChange.objects.filter(account=account).update(status=ChangeStatus.PENDING, progress=[])
    push_account(account.pk)
    assert ms.count("move") == 1
    assert mailbox.folder_of(graph_id) == "archive"
    assert _changes(account)[0].result["already_there"] == 1


def test_a_message_deleted_at_microsoft_meanwhile_needs_nothing_more(ms, alice):
    switches(alice, delete=True)
    account, mailbox = outlook_personal(ms, alice)
    graph_id, result = seed(account, mailbox)
    services.delete_conversations(alice, [result.conversation_id])
    mailbox.purge(graph_id)
    push_account(account.pk)
    change = _changes(account)[0]
    assert change.status == ChangeStatus.DONE and change.result["gone"] == 1


def test_trash_leaves_a_message_shift_deleted_in_outlook_where_it_is(ms, alice):
    switches(alice, delete=True)
    account, mailbox = outlook_personal(ms, alice)
    graph_id, result = seed(account, mailbox)
    services.delete_conversations(alice, [result.conversation_id])
    mailbox.delete_forever(graph_id)  # Shift+Delete: in Recoverable Items Deletions
    push_account(account.pk)
    change = _changes(account)[0]
    assert change.status == ChangeStatus.DONE and change.result["already_there"] == 1
    # Moving it back to Deleted Items would undo the user's permanent delete.
    assert mailbox.folder_of(graph_id) == "recoverableitemsdeletions" and ms.count("move") == 0


def test_45_messages_go_out_in_batches_of_20_and_never_more_than_4_in_flight(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    conversations = [seed(account, mailbox, subject=f"Lead {i}")[1].conversation_id for i in range(45)]
    # Three separate actions: consecutive changes on different messages share batches.
    for start in (0, 15, 30):
        services.archive_conversations(alice, conversations[start : start + 15])
    assert push_account(account.pk).done == 3
    assert len(mailbox.ids_in("archive")) == 45 and not mailbox.ids_in("inbox")
    assert ms.batch_sizes() == [7, 20, 20, 5, 20, 20, 5]
    assert ms.count("get", in_batch=True) == 45 and ms.count("move", in_batch=True) == 45
    assert ms.count("get", in_batch=False) == ms.count("move", in_batch=False) == 0
    _clean_traffic(ms, mailbox)


def test_the_fake_graph_refuses_a_fifth_request_in_flight_per_mailbox(ms, alice):
    """What the adapter is held to: the fake really enforces Exchange's concurrency limit."""
    account, mailbox = outlook_personal(ms, alice)
    graph_id, _ = seed(account, mailbox)
    adapter = OutlookAdapter(account)
    url = adapter.graph.url(f"/messages/{graph_id}?$select=id")
    ms.allow_over_concurrency = True  # this test drives the fake over the limit on purpose
    mailbox.hold = threading.Event()
    statuses: list[int] = []

    headers = {"Authorization": f"Bearer {adapter.tokens.access_token()}", "Prefer": 'IdType="ImmutableId"'}

    def fetch() -> None:
        statuses.append(adapter.session.get(url, headers=headers, timeout=30).status_code)

    threads = [threading.Thread(target=fetch) for _ in range(MAILBOX_CONCURRENCY)]
    for thread in threads:
        thread.start()
    for _ in range(3000):  # wait (not a timing assertion) until all four are inside
        if mailbox.in_flight == MAILBOX_CONCURRENCY:
            break
        threading.Event().wait(0.01)
    fetch()  # the fifth
    mailbox.hold.set()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 200, 429]
    assert ms.concurrency_rejections == 1


def test_throttled_moves_come_back_after_retry_after_until_every_change_is_done(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    conversations = [seed(account, mailbox, subject=f"Deal {i}")[1].conversation_id for i in range(30)]
    for start in (0, 10, 20):
        services.archive_conversations(alice, conversations[start : start + 10])
    ms.fail("move", times=7, retry_after="30")
    before = timezone.now()
    summary = push_account(account.pk)
    assert summary.retrying >= 1
    first = _changes(account)[0]
    assert first.status == ChangeStatus.PENDING
    assert first.next_attempt_at >= before + timedelta(seconds=30)  # Retry-After honoured
    assert "429" in first.last_error
    rounds = _drain(account)
    assert rounds >= 2
    assert [c.status for c in _changes(account)] == [ChangeStatus.DONE] * 3
    assert len(mailbox.ids_in("archive")) == 30
    assert ms.count("move", status=429) == 7
    assert ms.count("move", status=201) == 30  # nothing moved twice
    _clean_traffic(ms, mailbox)


def test_a_throttled_batch_call_retries_all_its_changes_later(ms, alice):
    switches(alice, archive=True, delete=True)
    account, mailbox = outlook_personal(ms, alice)
    a, ra = seed(account, mailbox, subject="One")
    b, rb = seed(account, mailbox, subject="Two")
    services.archive_conversations(alice, [ra.conversation_id])
    services.delete_conversations(alice, [rb.conversation_id])
    OutlookAdapter(account).folders()  # folder ids known already
    ms.fail("batch", times=2, retry_after="120")
    before = timezone.now()
    push_account(account.pk)
    changes = _changes(account)
    assert all(c.status == ChangeStatus.PENDING for c in changes)
    assert all(c.next_attempt_at >= before + timedelta(seconds=120) for c in changes)
    _drain(account)
    assert mailbox.folder_of(a) == "archive" and mailbox.folder_of(b) == "deleteditems"


def test_graph_outage_on_a_move_retries_and_a_refused_move_fails_visibly(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice)
    a, ra = seed(account, mailbox, subject="One")
    b, rb = seed(account, mailbox, subject="Two")
    services.archive_conversations(alice, [ra.conversation_id])
    ms.fail("move", status=503, retry_after=None)
    push_account(account.pk)
    assert _changes(account)[0].status == ChangeStatus.PENDING
    _drain(account)
    assert mailbox.folder_of(a) == "archive"

    services.archive_conversations(alice, [rb.conversation_id])
    ms.fail("move", status=400, retry_after=None, code="ErrorMoveCopyFailed")
    push_account(account.pk)
    failed = _changes(account)[1]
    assert failed.status == ChangeStatus.FAILED
    assert "ErrorMoveCopyFailed" in failed.last_error
    assert mailbox.folder_of(b) == "inbox"


def test_archive_in_a_mailbox_without_an_archive_folder_fails_with_the_reason(ms, alice):
    switches(alice, archive=True)
    account, mailbox = outlook_personal(ms, alice, archive=False)
    graph_id, result = seed(account, mailbox)
    services.archive_conversations(alice, [result.conversation_id])
    push_account(account.pk)
    change = _changes(account)[0]
    assert change.status == ChangeStatus.FAILED
    assert "no Archive folder" in change.last_error
    assert mailbox.folder_of(graph_id) == "inbox"


def test_a_shared_team_mailbox_is_pushed_through_the_users_path_with_a_members_sign_in(ms, acme, alice, bob):
    account, mailbox = outlook_team(ms, acme, [alice, bob], "sales@acme.test", shared_by=alice)
    account.archive_in_provider = True
    account.save()
    graph_id, result = seed(account, mailbox)
    services.archive_conversations(bob, [result.conversation_id])
    assert push_account(account.pk).done == 1
    assert mailbox.folder_of(graph_id) == "archive"
    assert ms.mailboxes["alice@acme.test"].ids_in("archive") == set()
    moves = ms.calls_of("move")
    assert moves and all(c.path.startswith("/v1.0/users/sales%40acme.test/") for c in moves)
