"""Changes made outside the app, seen by the pull: deletions only on positive evidence,
the mass-delete guard, and messages that cannot be parsed never stopping a sync."""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import AccountStatus, Conversation, Message, ProviderRef
from sync.models import QuarantinedMessage, UnplacedMessage
from sync.providers.imap import pull as imap_pull
from sync.pull import pull_account
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import make_message

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def _ids(setup: ImapSetup) -> set[str]:
    return set(Message.objects.filter(account=setup.account).values_list("message_id", flat=True))


# --- positive evidence -----------------------------------------------------------------------
def test_moved_to_another_folder_and_later_to_trash_is_deleted(mailbox: ImapSetup):
    question = mailbox.deliver(subject="Filed away")
    mailbox.pull()
    with mailbox.client() as client:
        client.create_folder("Projects")
    mailbox.move(question, "inbox", "Projects")
    assert mailbox.pull().report.deleted == 0
    assert ProviderRef.objects.get(account=mailbox.account).folder == "Projects"

    # Projects is not scanned on every pull: the arrival in Trash is the evidence, and the
    # app confirms the message really left Projects before deleting.
    mailbox.move(question, "Projects", "trash")
    summary = mailbox.pull()

    assert summary.report.deleted == 1 and _ids(mailbox) == set()


def test_archived_externally_then_deleted_externally_is_deleted(mailbox: ImapSetup):
    question = mailbox.deliver(subject="Archived first")
    mailbox.pull()
    mailbox.move(question, "inbox", "archive")
    assert mailbox.pull().report.deleted == 0

    mailbox.move(question, "archive", "trash")

    assert mailbox.pull().report.deleted == 1 and _ids(mailbox) == set()


def test_a_copy_in_trash_while_the_original_stays_is_not_a_delete(imap: ImapSetup):
    question = imap.deliver(subject="Copied")
    imap.pull()
    with imap.client() as client:
        client.select_folder("INBOX")
        client.copy(client.search("ALL"), imap.folder("trash"))

    summary = imap.pull()

    assert summary.report.deleted == 0 and _ids(imap) == {question}


def test_already_in_trash_at_the_first_sync_deletes_nothing(imap: ImapSetup):
    kept = imap.deliver(subject="In the Inbox")
    _, raw = make_message(subject="In the Inbox", message_id=kept)
    imap.append("trash", raw)  # an old copy the user threw away long ago

    first = imap.pull()
    second = imap.pull()

    assert first.report.deleted == second.report.deleted == 0 and _ids(imap) == {kept}


# --- the mass-delete guard ---------------------------------------------------------------------
@pytest.fixture
def small_guard(settings):  # type: ignore[no-untyped-def]
    settings.MASS_DELETE_MIN_COUNT = 3
    settings.MASS_DELETE_MAX_SHARE = 0.2


def test_mass_delete_pauses_the_account_instead_of_deleting(mailbox: ImapSetup, small_guard):
    ids = [mailbox.deliver(subject=f"Lead {n}") for n in range(10)]
    mailbox.pull()
    for message_id in ids[:4]:
        mailbox.expunge(message_id, "inbox")
    first = mailbox.pull()  # the first complete check: unplaced, not deleted yet
    assert first.report.deleted == 0 and not first.report.paused
    assert UnplacedMessage.objects.filter(account=mailbox.account).count() == 4

    summary = mailbox.pull()

    assert summary.report.paused and summary.report.deleted == 0
    assert mailbox.account.status == AccountStatus.PAUSED
    assert "would have deleted 4 of 10 messages" in mailbox.account.status_reason
    assert _ids(mailbox) == set(ids)
    assert not UnplacedMessage.objects.filter(account=mailbox.account).exists()  # held, not unplaced
    assert pull_account(mailbox.account.pk).skipped_reason == "account is paused"


def test_after_resume_held_deletions_are_rechecked_and_applied(mailbox: ImapSetup, small_guard):
    ids = [mailbox.deliver(subject=f"Lead {n}") for n in range(10)]
    mailbox.pull()
    for message_id in ids[:4]:
        mailbox.expunge(message_id, "inbox")
    mailbox.pull()
    assert mailbox.pull().report.paused  # the second complete check trips the guard
    # The user looks, finds two of them were lost by a broken server and restores them.
    for message_id in ids[:2]:
        _, raw = make_message(subject="Restored", message_id=message_id)
        mailbox.append("inbox", raw)

    admin = mailbox.actor if mailbox.kind == "personal" else mailbox.account.members.get(role="admin")
    services.resume_mailbox(admin, mailbox.account.pk)
    summary = mailbox.pull()

    assert summary.report.deleted == 2 and not summary.report.paused
    assert _ids(mailbox) == set(ids) - set(ids[2:4])
    assert mailbox.account.status == AccountStatus.ACTIVE
    assert mailbox.pull().report.deleted == 0


def test_deletions_below_the_guard_are_applied(imap: ImapSetup, small_guard):
    ids = [imap.deliver(subject=f"Lead {n}") for n in range(10)]
    imap.pull()
    for message_id in ids[:2]:
        imap.expunge(message_id, "inbox")

    first = imap.pull()
    summary = imap.pull()

    assert first.report.deleted == 0 and summary.report.deleted == 2
    assert imap.account.status == AccountStatus.ACTIVE


# --- broken and huge messages ----------------------------------------------------------------------
def _nested(depth: int) -> bytes:
    raw = "From: attacker@client.test\r\nSubject: Deep\r\nMessage-ID: <deep@client.test>\r\n"
    raw += "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    raw += "Content-Type: text/plain\r\n\r\nhello\r\n"
    raw += "".join(f"--b{i}--\r\n" for i in reversed(range(depth)))
    return raw.encode()


def test_unparseable_message_is_quarantined_and_the_sync_goes_on(imap: ImapSetup):
    imap.deliver(subject="Before")
    imap.append("inbox", _nested(3000))  # nested deeper than the email package can read
    imap.deliver(subject="After")

    summary = imap.pull()

    assert summary.report.created == 2 and summary.report.quarantined == 1
    assert set(Message.objects.filter(account=imap.account).values_list("subject", flat=True)) == {
        "Before",
        "After",
    }
    quarantined = QuarantinedMessage.objects.get(account=imap.account)
    assert quarantined.reason.startswith("could not be parsed: MessageTooComplex")
    assert quarantined.provider_key.startswith("imap:INBOX:") and bytes(quarantined.raw) == _nested(3000)
    assert imap.pull().report.quarantined == 0  # not retried on every pull


def test_malformed_messages_are_stored_with_what_could_be_parsed(imap: ImapSetup):
    imap.append(
        "inbox",
        b"From: =?x-unknown?q?J=F6rg?= <joerg@client.test>\r\nSubject: Broken \xff\xfe bytes\r\n"
        b"Date: yesterday-ish\r\nContent-Type: text/plain; charset=x-nonsense\r\n\r\nBody \x00 with NUL\r\n",
    )
    imap.append("inbox", b"no headers at all, just text\r\n")

    summary = imap.pull()

    assert summary.report.created == 2 and summary.report.quarantined == 0
    broken = Message.objects.get(account=imap.account, from_address="joerg@client.test")
    assert "Body" in broken.text and "\x00" not in broken.text
    assert any("Date" in p for p in broken.parse_problems)
    assert any("no Message-ID" in p for p in broken.parse_problems)
    assert imap.pull().report.created == 0  # keyed by UID: no duplicates without a Message-ID


def test_huge_message_is_imported_from_its_headers(imap: ImapSetup, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(imap_pull, "MAX_FETCH_BYTES", 50_000)
    imap.deliver(subject="Huge attachment", body="x" * 200_000)
    imap.deliver(subject="Normal")

    summary = imap.pull()

    assert summary.report.created == 2
    huge = Message.objects.get(account=imap.account, subject="Huge attachment")
    assert huge.text == "" and "only its headers were imported" in huge.parse_problems[0]
    assert Conversation.objects.get(pk=huge.conversation_id).subject == "Huge attachment"


def test_no_deletion_when_a_folder_cannot_be_searched(any_dovecot, acme, alice, bob):
    imap = make_setup(any_dovecot, "personal", acme=acme, alice=alice, bob=bob)
    question = imap.deliver(subject="Hidden away")
    imap.pull()
    with imap.client() as client:
        client.create_folder("Private")
    imap.move(question, "inbox", "Private")
    private = imap.user.server.maildir(imap.user) / ".Private"
    private.chmod(0o000)  # the server can no longer look inside
    try:
        summary = pull_account(imap.account.pk)
    finally:
        private.chmod(0o700)

    # Not found anywhere it could look is not "gone from every folder" — and one broken
    # folder does not stop the sync of the others.
    assert not summary.error and summary.report.deleted == 0
    row = UnplacedMessage.objects.get(account=imap.account)
    assert "could not open 'Private'" in row.reason and not row.last_check_complete
    assert _ids(imap) == {question}
    assert imap.pull().report.deleted == 0 and _ids(imap) == {question}  # readable again: found
    assert ProviderRef.objects.get(account=imap.account).folder == "Private"
    assert not UnplacedMessage.objects.filter(account=imap.account).exists()
