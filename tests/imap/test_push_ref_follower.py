"""A bulk archive rewrites the app's references batch by batch while the push goes on
(sync/ref_follower.py ``RefFollower``): each MOVE batch's references are rewritten on a thread
of its own, with its own database connection, while the server moves the next batch — and
only after the server confirmed the move, in the order the push learnt the new places.

These tests commit for real (``transaction=True``): under the usual test transaction the
references are rewritten in the push's own thread. MOVE batches are made small so a few
messages span several. Real Dovecot behind the suite's fault proxy, which shows what the
database says at the moment each MOVE reaches the server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.utils import timezone

from inbox import services
from inbox.models import ChangeStatus, Conversation, ProviderChange, ProviderRef
from sync.providers.imap import push as imap_push
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot
from tests.imap.live_copies import assert_one_live_copy
from tests.imap.servers.proxy import Command, FaultProxy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.dovecot]

BATCH = 2


@pytest.fixture
def faulty(dovecot_faulty: Dovecot, acme, alice, bob, monkeypatch) -> Iterator[ImapSetup]:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(imap_push, "MOVE_BATCH", BATCH)
    setup = make_setup(dovecot_faulty, "personal", acme=acme, alice=alice, bob=bob)
    setup.switches(archive=True)
    yield setup
    setup.close()


def _proxy(setup: ImapSetup) -> FaultProxy:
    proxy = setup.user.server.proxy
    assert proxy is not None
    return proxy


def _folders_at_each_move(
    monkeypatch: pytest.MonkeyPatch, setup: ImapSetup, refuse_from: int = 0
) -> list[list[str]]:
    """Before each ``UID MOVE`` reaches the server: the folders the database has the account's
    INBOX/Archive references in (committed rows, read on the proxy's own connection). From the
    ``refuse_from``-th MOVE on (1-based; 0: never), the server answers ``NO [UNAVAILABLE]``."""
    seen: list[list[str]] = []
    proxy = _proxy(setup)
    on_command = proxy._on_command

    def watch(command: Command) -> bytes | None:
        if command.name == "UID MOVE":
            try:
                seen.append(
                    sorted(ProviderRef.objects.filter(account=setup.account).values_list("folder", flat=True))
                )
            finally:
                connection.close()  # the proxy's thread goes on; its connection must not
            if refuse_from and len(seen) >= refuse_from:
                return b"NO [UNAVAILABLE] Try again later"
        return on_command(command)

    monkeypatch.setattr(proxy, "_on_command", watch)
    return seen


def _archive_all(setup: ImapSetup) -> ProviderChange:
    ids = list(Conversation.objects.filter(account=setup.account).values_list("pk", flat=True))
    [change] = services.archive_conversations(setup.actor, ids).changes
    return change


def _places(setup: ImapSetup, message_ids: list[str]) -> dict[str, tuple[str, int | None]]:
    """Message-ID → (folder, UID) as the app's references have them."""
    return {
        mid: (folder, uid)
        for mid, folder, uid in ProviderRef.objects.filter(
            account=setup.account, message__message_id__in=message_ids
        ).values_list("message__message_id", "folder", "uid")
    }


def _server_places(
    setup: ImapSetup, message_ids: list[str], folder: str
) -> dict[str, tuple[str, int | None]]:
    client = setup.mua()
    return {mid: (folder, setup.uid_of(client, mid, folder)) for mid in message_ids}


def test_each_move_batchs_references_are_rewritten_on_a_thread_while_the_next_batch_moves(
    faulty: ImapSetup, monkeypatch: pytest.MonkeyPatch, connection_threads: list[str]
):
    leads = [faulty.deliver(subject=f"Lead {n}") for n in range(1, 6)]  # three batches: 2, 2, 1
    faulty.pull()
    change = _archive_all(faulty)
    seen = _folders_at_each_move(monkeypatch, faulty)

    summary = faulty.push()

    assert summary.done == 1 and summary.failed == 0
    change.refresh_from_db()
    assert change.status == ChangeStatus.DONE
    # No reference moved before its batch's MOVE; when the third batch reached the server,
    # the first batch's references had followed their messages (the second's may still be
    # being written, as the first's may have been at the second MOVE).
    in_archive = [folders.count("Archive") for folders in seen]
    assert len(seen) == 3 and in_archive[0] == 0 and in_archive[1] in (0, BATCH)
    assert in_archive[2] in (BATCH, 2 * BATCH)
    archive = faulty.folder("archive")
    assert _places(faulty, leads) == _server_places(faulty, leads, archive)
    assert any(name.startswith("push-refs") for name in connection_threads), "rewritten in the push's thread"
    assert_one_live_copy(faulty.mua(), leads)


def test_a_push_broken_off_by_the_server_keeps_the_moved_batches_references_and_the_retry_finishes(
    faulty: ImapSetup, monkeypatch: pytest.MonkeyPatch
):
    leads = [faulty.deliver(subject=f"Lead {n}") for n in range(1, 6)]
    faulty.pull()
    change = _archive_all(faulty)
    with monkeypatch.context() as refusing:
        seen = _folders_at_each_move(refusing, faulty, refuse_from=3)
        summary = faulty.push()

    assert len(seen) == 3 and summary.retrying == 1 and summary.done == 0
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING and "UNAVAILABLE" in change.last_error
    archive, inbox = faulty.folder("archive"), faulty.folder("inbox")
    moved = faulty.ids("archive")
    assert len(moved) == 2 * BATCH and sorted(moved + faulty.ids("inbox")) == sorted(leads)
    # The moved messages' references point where the server put them; the rest did not move.
    left = [mid for mid in leads if mid not in moved]
    assert _places(faulty, moved) == _server_places(faulty, moved, archive)
    assert _places(faulty, left) == _server_places(faulty, left, inbox)

    ProviderChange.objects.filter(pk=change.pk).update(next_attempt_at=timezone.now())  # backoff over
    retried = faulty.push()

    assert retried.done == 1
    assert sorted(faulty.ids("archive")) == sorted(leads) and faulty.ids("inbox") == []
    assert _places(faulty, leads) == _server_places(faulty, leads, archive)
    assert_one_live_copy(faulty.mua(), leads)


def test_an_archive_and_its_unarchive_in_one_push_leave_the_reference_where_the_message_ends(
    faulty: ImapSetup,
):
    lead = faulty.deliver(subject="Lead back and forth")
    faulty.pull()
    conversation = Conversation.objects.get(account=faulty.account)
    services.archive_conversations(faulty.actor, [conversation.pk])
    services.unarchive_conversations(faulty.actor, [conversation.pk])
    assert ProviderChange.objects.filter(account=faulty.account, status=ChangeStatus.PENDING).count() == 2

    summary = faulty.push()

    assert summary.done == 2
    assert faulty.ids("inbox") == [lead] and faulty.ids("archive") == []
    assert _places(faulty, [lead]) == _server_places(faulty, [lead], faulty.folder("inbox"))
