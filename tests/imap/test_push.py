"""Push safety against a real Dovecot: UIDVALIDITY and Message-ID checks, lookup by
Message-ID, refusing ambiguity, idempotency, the COPY/UID EXPUNGE fallback, and the
typed errors that decide retries and re-authentication."""

from __future__ import annotations

import select
import subprocess

import pytest

from inbox import services
from inbox.models import AccountStatus, ChangeKind, ChangeStatus, Conversation, ProviderChange, ProviderRef
from inbox.services.outbox import enqueue_change, ref_snapshots
from sync.providers.base import Outcome, PushRequest
from sync.providers.imap import ImapAdapter
from sync.providers.imap.client import fetch_message_ids
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import make_message

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def _archive(setup: ImapSetup, *subjects: str) -> list[ProviderChange]:
    setup.switches(archive=True, delete=True)
    ids = list(
        Conversation.objects.filter(account=setup.account, subject__in=subjects).values_list("pk", flat=True)
    )
    return services.archive_conversations(setup.actor, ids).changes


def _change(change: ProviderChange) -> ProviderChange:
    change.refresh_from_db()
    return change


def _set_uidvalidity(setup: ImapSetup, folder: str, value: int) -> None:
    server = setup.user.server
    subprocess.run(
        ["doveadm", "-c", str(server.config_file), "mailbox", "update", "-u", setup.user.login,
         "--uid-validity", str(value), folder],
        check=True, user=server.run_as.pw_uid, group=server.run_as.pw_gid,
    )  # fmt: skip


def test_many_conversations_are_archived_in_one_push(mailbox: ImapSetup):
    ids = [mailbox.deliver(subject=f"Lead {n}") for n in range(30)]
    mailbox.pull()
    (change,) = _archive(mailbox, *[f"Lead {n}" for n in range(30)])

    summary = mailbox.push()

    assert summary.done == 1
    assert sorted(mailbox.ids("archive")) == sorted(ids) and mailbox.ids("inbox") == []
    assert _change(change).result["moved"] == 30
    folders = set(ProviderRef.objects.filter(account=mailbox.account).values_list("folder", flat=True))
    assert folders == {mailbox.folder("archive")}


def test_push_checks_uidvalidity_and_finds_the_message_by_message_id(imap: ImapSetup):
    wanted = imap.deliver(subject="Move me")
    imap.deliver(subject="Stay")
    imap.pull()
    _set_uidvalidity(imap, "INBOX", 777)
    (change,) = _archive(imap, "Move me")

    imap.push()

    assert imap.ids("archive") == [wanted]
    assert _change(change).status == ChangeStatus.DONE


def test_push_does_not_move_another_message_that_now_has_the_uid(imap: ImapSetup):
    wanted = imap.deliver(subject="Move me")
    bystander = imap.deliver(subject="Bystander")
    imap.pull()
    conversation = Conversation.objects.get(account=imap.account, subject="Move me")
    refs = ref_snapshots(imap.account.pk, {"message__conversation_id": conversation.pk})
    bystander_uid = ProviderRef.objects.get(account=imap.account, message__message_id=bystander).uid
    refs[0]["uid"] = bystander_uid  # a stale or corrupted reference pointing at the wrong message

    results = ImapAdapter(imap.account).push([PushRequest(1, "archive", refs)])

    assert results[0].outcome == Outcome.DONE
    assert imap.ids("archive") == [wanted]
    assert imap.ids("inbox") == [bystander]


def test_ambiguous_message_id_moves_nothing_and_says_why(imap: ImapSetup):
    duplicate = imap.deliver(subject="Twice")
    imap.pull()
    _, raw = make_message(subject="Twice", message_id=duplicate)
    imap.append("inbox", raw)  # a second copy with the same Message-ID
    _set_uidvalidity(imap, "INBOX", 31337)  # so the stored UID no longer identifies it
    (change,) = _archive(imap, "Twice")

    summary = imap.push()

    change = _change(change)
    assert summary.failed == 1 and change.status == ChangeStatus.FAILED
    assert "2 messages in INBOX carry Message-ID" in change.last_error
    assert change.result["ambiguous"] == 1
    assert imap.ids("inbox") == [duplicate, duplicate] and imap.ids("archive") == []


def test_message_gone_from_the_mailbox_is_recorded_and_the_change_completes(imap: ImapSetup):
    gone = imap.deliver(subject="Already deleted elsewhere")
    imap.pull()
    imap.expunge(gone, "inbox")
    (change,) = _archive(imap, "Already deleted elsewhere")

    imap.push()

    change = _change(change)
    assert change.status == ChangeStatus.DONE
    assert change.result["not_found"] == 1
    assert "nothing to do" in change.result["not_found_notes"][0]


def test_repeating_a_push_is_harmless(mailbox: ImapSetup):
    question = mailbox.deliver(subject="Once")
    mailbox.pull()
    (change,) = _archive(mailbox, "Once")
    snapshot = list(change.refs)
    mailbox.push()

    # A worker that died after the move but before recording it runs the change again.
    results = ImapAdapter(mailbox.account).push([PushRequest(change.pk, "archive", snapshot)])

    assert results[0].outcome == Outcome.DONE and results[0].details["already"] == 1
    assert mailbox.ids("archive") == [question] and mailbox.ids("inbox") == []


def test_trash_of_a_message_already_in_trash_is_done(imap: ImapSetup):
    question = imap.deliver(subject="Bye")
    imap.pull()
    imap.switches(delete=True)
    conversation = Conversation.objects.get(account=imap.account, subject="Bye")
    refs = ref_snapshots(imap.account.pk, {"message__conversation_id": conversation.pk})
    imap.move(question, "inbox", "trash")

    results = ImapAdapter(imap.account).push([PushRequest(9, "trash", refs)])

    assert results[0].outcome == Outcome.DONE and results[0].details["already"] == 1
    assert imap.ids("trash") == [question]


def test_archive_then_unarchive_in_one_batch_keeps_their_order(imap: ImapSetup):
    question = imap.deliver(subject="Back and forth")
    imap.pull()
    imap.switches(archive=True)
    conversation = Conversation.objects.get(account=imap.account, subject="Back and forth")
    services.archive_conversations(imap.actor, [conversation.pk])
    services.unarchive_conversations(imap.actor, [conversation.pk])

    summary = imap.push()

    assert summary.done == 2
    assert imap.ids("inbox") == [question] and imap.ids("archive") == []
    assert ProviderRef.objects.get(account=imap.account).folder == "INBOX"


def test_fallback_never_expunges_other_messages_flagged_deleted(dovecot_fallback, acme, alice, bob):
    setup = make_setup(dovecot_fallback, "personal", acme=acme, alice=alice, bob=bob)
    moving = setup.deliver(subject="Archive me")
    flagged = setup.deliver(subject="Flagged by the user", flags=(b"\\Deleted",))
    setup.pull()
    (change,) = _archive(setup, "Archive me")

    setup.push()

    assert _change(change).status == ChangeStatus.DONE
    assert setup.ids("archive") == [moving]
    with setup.client() as client:  # a plain EXPUNGE would have purged it
        client.select_folder("INBOX", readonly=True)
        still_flagged = client.search(["DELETED"])
        assert fetch_message_ids(client, still_flagged) == {still_flagged[0]: flagged}


def test_fallback_retry_after_a_half_done_copy_leaves_no_duplicate(dovecot_fallback, acme, alice, bob):
    setup = make_setup(dovecot_fallback, "personal", acme=acme, alice=alice, bob=bob)
    question = setup.deliver(subject="Half done")
    setup.pull()
    (change,) = _archive(setup, "Half done")
    with setup.client() as client:  # the first attempt copied, then the connection dropped
        client.select_folder("INBOX")
        client.copy(client.search("ALL"), setup.folder("archive"))

    setup.push()

    assert _change(change).status == ChangeStatus.DONE
    assert setup.ids("archive") == [question] and setup.ids("inbox") == []
    ref = ProviderRef.objects.get(account=setup.account)
    assert ref.folder == setup.folder("archive")


def test_wrong_password_marks_the_account_for_reauthentication_and_keeps_the_change(imap: ImapSetup):
    imap.deliver(subject="Locked out")
    imap.pull()
    (change,) = _archive(imap, "Locked out")
    imap.account.credentials = {"password": "changed by the user elsewhere"}
    imap.account.save(update_fields=["credentials"])

    summary = imap.push()

    assert "reconnected" in summary.skipped_reason
    assert imap.account.status == AccountStatus.NEEDS_REAUTH
    change = _change(change)
    assert change.status == ChangeStatus.PENDING and change.attempts == 0
    assert imap.ids("archive") == []


def test_unreachable_server_is_retried_later(imap: ImapSetup):
    imap.deliver(subject="Later")
    imap.pull()
    (change,) = _archive(imap, "Later")
    from tests.ports import free_port

    imap.account.config = {**imap.account.config, "port": free_port()}
    imap.account.save(update_fields=["config"])

    summary = imap.push()

    change = _change(change)
    assert summary.retrying == 1
    assert change.status == ChangeStatus.PENDING and change.attempts == 1
    assert "Could not reach the IMAP server" in change.last_error
    assert imap.account.status == AccountStatus.ACTIVE


def test_missing_archive_folder_fails_the_change_with_the_reason(imap: ImapSetup):
    imap.deliver(subject="Nowhere to go")
    imap.pull()
    imap.account.config = {
        **imap.account.config,
        "folders": {**imap.account.config["folders"], "archive": None},
    }
    imap.account.save(update_fields=["config"])
    (change,) = _archive(imap, "Nowhere to go")

    imap.push()

    change = _change(change)
    assert change.status == ChangeStatus.FAILED
    assert change.last_error == "this mailbox has no Archive folder"


def test_change_written_by_the_outbox_service_reaches_dovecot(imap: ImapSetup):
    """The snapshot the outbox stores is all the adapter needs (the rows may be gone)."""
    question = imap.deliver(subject="Snapshot")
    imap.pull()
    conversation = Conversation.objects.get(account=imap.account, subject="Snapshot")
    audit = services.archive_conversations(imap.actor, [conversation.pk]).audit
    refs = ref_snapshots(imap.account.pk, {"message__conversation_id": conversation.pk})
    Conversation.objects.filter(pk=conversation.pk).delete()
    enqueue_change(imap.account, ChangeKind.TRASH, refs, actor=imap.actor, audit=audit)

    imap.push()

    assert imap.ids("trash") == [question]


def test_server_closing_the_connection_is_a_temporary_error(imap: ImapSetup):
    from sync.errors import ProviderTemporaryError
    from sync.providers.imap.client import ImapSettings, connect
    from sync.providers.imap.errors import imap_errors

    client = connect(ImapSettings.from_account(imap.account), imap.user.password)
    client.select_folder("INBOX")
    server = imap.user.server
    subprocess.run(
        ["doveadm", "-c", str(server.config_file), "kick", imap.user.login],
        check=True, capture_output=True, user=server.run_as.pw_uid, group=server.run_as.pw_gid,
    )  # fmt: skip  # Dovecot says BYE and closes the connection
    readable, _, _ = select.select([client.socket()], [], [], 10)
    assert readable, "Dovecot did not say BYE"

    # Depending on timing the client reads the BYE or finds the socket reset: both retry.
    with pytest.raises(ProviderTemporaryError, match=r"closed|reach"), imap_errors("pushing changes"):
        client.noop()
