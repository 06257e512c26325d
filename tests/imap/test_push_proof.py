"""Proof before destruction on a server with neither MOVE nor UIDPLUS (matrix variant (b)).

Without MOVE the push copies, and without UIDPLUS there is no COPYUID to say where the copy
went and no UID EXPUNGE: an original can only be flagged ``\\Deleted`` and left for some
client's EXPUNGE. So an original may be flagged only once a *live* copy in the target is
proven, and a ``\\Deleted`` leftover must never count as that copy. Every test ends the way
real life does: another mail client EXPUNGEs every folder, and the message must still be
there, exactly once.
"""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import ChangeStatus, Conversation, ProviderChange, ProviderRef
from inbox.services.outbox import ref_snapshots
from sync.providers.base import Outcome, PushRequest
from sync.providers.imap import ImapAdapter
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot, make_message
from tests.imap.live_copies import assert_one_live_copy

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


@pytest.fixture
def bare(dovecot_nomove: Dovecot, acme, alice, bob):  # type: ignore[no-untyped-def]
    """Alice's mailbox on a Dovecot that really lacks MOVE and UIDPLUS."""
    setup = make_setup(dovecot_nomove, "personal", acme=acme, alice=alice, bob=bob)
    assert not setup.mua().has_capability("MOVE") and not setup.mua().has_capability("UIDPLUS")
    yield setup
    setup.close()


def _conversation(setup: ImapSetup, subject: str) -> Conversation:
    return Conversation.objects.get(account=setup.account, subject=subject)


def _change(change: ProviderChange) -> ProviderChange:
    change.refresh_from_db()
    return change


def test_archive_then_unarchive_leaves_one_live_copy_that_survives_another_clients_expunge(bare: ImapSetup):
    """The reported bug: both pushes said "moved 1" and left only \\Deleted copies behind."""
    question = bare.deliver(subject="Round trip")
    bare.pull()
    bare.switches(archive=True)
    conversation = _conversation(bare, "Round trip")

    (archived,) = services.archive_conversations(bare.actor, [conversation.pk]).changes
    bare.push()
    assert _change(archived).status == ChangeStatus.DONE
    assert assert_one_live_copy(bare.mua(), [question])[question] == bare.folder("archive")

    (unarchived,) = services.unarchive_conversations(bare.actor, [conversation.pk]).changes
    bare.push()
    assert _change(unarchived).status == ChangeStatus.DONE
    assert assert_one_live_copy(bare.mua(), [question])[question] == "INBOX"

    bare.expunge_all()  # any other mail client, any time

    assert bare.ids("inbox") == [question]
    assert bare.ids("archive") == [] and bare.ids("trash") == []
    assert assert_one_live_copy(bare.mua(), [question]) == {question: "INBOX"}
    ref = ProviderRef.objects.get(account=bare.account)
    with bare.client() as client:  # the app's reference follows the live copy
        client.select_folder("INBOX", readonly=True)
        assert ref.folder == "INBOX" and client.search(["UID", str(ref.uid), "UNDELETED"]) == [ref.uid]


def test_archive_unarchive_trash_then_expunge_everywhere_leaves_it_once_in_trash(bare: ImapSetup):
    question = bare.deliver(subject="Round trip to the bin")
    bare.pull()
    bare.switches(archive=True, delete=True)
    conversation = _conversation(bare, "Round trip to the bin")
    services.archive_conversations(bare.actor, [conversation.pk])
    bare.push()
    assert_one_live_copy(bare.mua(), [question])
    services.unarchive_conversations(bare.actor, [conversation.pk])
    bare.push()
    assert_one_live_copy(bare.mua(), [question])
    refs = ref_snapshots(bare.account.pk, {"message__conversation_id": conversation.pk})

    (result,) = ImapAdapter(bare.account).push([PushRequest(7, "trash", refs)])

    assert result.outcome == Outcome.DONE and result.details["moved"] == 1
    assert assert_one_live_copy(bare.mua(), [question])[question] == bare.folder("trash")
    bare.expunge_all()
    assert bare.ids("trash") == [question]
    assert bare.ids("inbox") == [] and bare.ids("archive") == []


def test_a_deleted_leftover_in_the_target_is_not_taken_for_a_copy(bare: ImapSetup):
    question = bare.deliver(subject="Leftover")
    _, raw = make_message(subject="Leftover", message_id=question)
    bare.append("archive", raw, flags=(b"\\Deleted",))  # e.g. an earlier move's leftover
    bare.pull()
    bare.switches(archive=True)

    (change,) = services.archive_conversations(bare.actor, [_conversation(bare, "Leftover").pk]).changes
    bare.push()

    change = _change(change)
    assert change.status == ChangeStatus.DONE and change.result["moved"] == 1
    bare.expunge_all()
    assert bare.ids("archive") == [question] and bare.ids("inbox") == []


def test_retry_after_a_half_done_copy_creates_no_second_live_copy(bare: ImapSetup):
    question = bare.deliver(subject="Half done")
    bare.pull()
    bare.switches(archive=True)
    (change,) = services.archive_conversations(bare.actor, [_conversation(bare, "Half done").pk]).changes
    with bare.client() as client:  # the first attempt copied, then the connection dropped
        client.select_folder("INBOX")
        client.copy(client.search("ALL"), bare.folder("archive"))

    bare.push()

    assert _change(change).status == ChangeStatus.DONE
    assert assert_one_live_copy(bare.mua(), [question])[question] == bare.folder("archive")
    bare.expunge_all()
    assert bare.ids("archive") == [question] and bare.ids("inbox") == []
    assert ProviderRef.objects.get(account=bare.account).folder == bare.folder("archive")


def test_a_different_message_with_the_same_message_id_in_the_target_is_no_proof(bare: ImapSetup):
    """Same Message-ID, other content (a re-sent draft, a broken client): not our copy."""
    question = bare.deliver(subject="Mine", body="The real question, with more words in it.")
    _, other = make_message(subject="Someone else's", message_id=question, body="Other")
    bare.append("archive", other)
    bare.pull()
    bare.switches(archive=True)

    (change,) = services.archive_conversations(bare.actor, [_conversation(bare, "Mine").pk]).changes
    bare.push()

    assert _change(change).status == ChangeStatus.DONE
    bare.expunge_all()
    assert bare.ids("inbox") == []
    with bare.client() as client:  # both messages survive: ours was copied, not assumed
        client.select_folder(bare.folder("archive"), readonly=True)
        bodies = [d[b"BODY[TEXT]"] for d in client.fetch(client.search("ALL"), ["BODY.PEEK[TEXT]"]).values()]
    assert sorted(b.strip() for b in bodies) == [b"Other", b"The real question, with more words in it."]


def test_a_copy_that_cannot_be_told_apart_leaves_the_original_untouched(
    bare: ImapSetup, monkeypatch: pytest.MonkeyPatch
):
    """Two live copies land at or above UIDNEXT (another client copied the same message at
    the same moment): which one is ours cannot be proven, so nothing is flagged."""
    question = bare.deliver(subject="Racing")
    bare.pull()
    bare.switches(archive=True)
    (change,) = services.archive_conversations(bare.actor, [_conversation(bare, "Racing").pk]).changes
    proxy = bare.user.server.proxy
    assert proxy is not None
    racer = bare.client()

    fired: list[bytes] = []
    on_command = proxy._on_command

    def copy_at_the_same_time(command):  # type: ignore[no-untyped-def]
        # Runs in the proxy right before our COPY reaches Dovecot.
        if command.name == "UID COPY" and not fired:
            fired.append(command.text)
            racer.select_folder("INBOX")
            racer.copy(racer.search("UNDELETED"), bare.folder("archive"))
        return on_command(command)

    monkeypatch.setattr(proxy, "_on_command", copy_at_the_same_time)
    try:
        bare.push()
    finally:
        racer.logout()

    assert fired
    change = _change(change)
    assert change.status == ChangeStatus.FAILED
    assert "could not be confirmed" in change.last_error
    bare.expunge_all()
    assert bare.ids("inbox") == [question]  # the original was never flagged
