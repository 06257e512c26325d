"""One message the IMAP server will not return never stalls the mailbox: the others arrive,
the cursor moves on, the refused one is "retrying" on the status page, and it arrives once the
fault clears — or is quarantined with the reason after N refusals. Faults come from the fault
proxy in front of a real Dovecot (tests/imap/servers/proxy.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import Message, ProviderRef
from sync.models import FaultState, FolderState, QuarantinedMessage, UnplacedMessage
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


@pytest.fixture
def faulty(dovecot_faulty: Dovecot, acme, alice, bob) -> Iterator[ImapSetup]:  # type: ignore[no-untyped-def]
    setup = make_setup(dovecot_faulty, "personal", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


def _subjects(setup: ImapSetup) -> set[str]:
    return set(Message.objects.filter(account=setup.account).values_list("subject", flat=True))


def _make_due(setup: ImapSetup) -> None:
    """The backoff passes (moved back in the database instead of slept through)."""
    waiting = QuarantinedMessage.objects.filter(account=setup.account, state=FaultState.RETRYING)
    assert waiting and all(f.next_retry_at > timezone.now() for f in waiting)
    waiting.update(next_retry_at=timezone.now() - timedelta(seconds=1))


def _deliver(setup: ImapSetup, count: int) -> dict[int, str]:
    """uid → subject of ``count`` new messages in INBOX (UIDs 1..count of a fresh mailbox)."""
    subjects = {uid: f"Lead {uid}" for uid in range(1, count + 1)}
    for subject in subjects.values():
        setup.deliver(subject=subject)
    return subjects


@pytest.mark.parametrize("fault_kind", ["fail_fetch", "omit_fetch"])
def test_a_refused_message_is_retried_while_the_rest_arrive_and_arrives_once_the_fault_clears(
    faulty: ImapSetup, fault_kind: str, client
):  # type: ignore[no-untyped-def]
    subjects = _deliver(faulty, 5)
    fault = getattr(faulty.user.server.proxy, fault_kind)(3, folder="INBOX")

    summary = faulty.pull()

    assert fault.hits and summary.report.created == 4
    assert _subjects(faulty) == set(subjects.values()) - {"Lead 3"}
    state = FolderState.objects.get(account=faulty.account, folder="INBOX")
    assert state.uidnext == 6  # the cursor moved on past the refused message
    (retry,) = QuarantinedMessage.objects.filter(account=faulty.account)
    assert retry.state == FaultState.RETRYING and retry.attempts == 1
    assert retry.provider_key == f"imap:INBOX:{state.uidvalidity}:3"
    assert retry.locator == {"folder": "INBOX", "uidvalidity": state.uidvalidity, "uid": 3}
    expected = "FETCH answered NO" if fault_kind == "fail_fetch" else "left it out of its FETCH answer"
    assert expected in retry.reason
    assert any("would not return" in note for note in summary.report.notes)  # not silent

    client.force_login(faulty.actor)
    page = client.get(f"/settings/email-sync/accounts/{faulty.account.pk}/status/").content.decode()
    assert f'data-fault="{retry.provider_key}" data-state="retrying"' in page

    # Not due yet: the next pull leaves it alone (and the fault is still on).
    assert faulty.pull().report.created == 0
    assert QuarantinedMessage.objects.get(pk=retry.pk).attempts == 1

    fault.off()
    _make_due(faulty)
    arrived = faulty.pull()

    assert arrived.report.created == 1 and _subjects(faulty) == set(subjects.values())
    assert not QuarantinedMessage.objects.filter(account=faulty.account).exists()
    assert faulty.pull().report.created == 0  # once


def test_a_refused_batch_is_narrowed_to_the_one_bad_message(faulty: ImapSetup):
    _deliver(faulty, 12)
    proxy = faulty.user.server.proxy
    proxy.fail_fetch(7, folder="INBOX")
    before = len(proxy.commands)

    summary = faulty.pull()

    assert summary.report.created == 11
    body_fetches = [c for c in proxy.commands[before:] if b"BODY.PEEK[]" in c.upper()]
    # One FETCH of all 12, then halves around UID 7: far fewer than one FETCH per message.
    assert 2 < len(body_fetches) < 12
    (retry,) = QuarantinedMessage.objects.filter(account=faulty.account)
    assert retry.provider_key.endswith(":7")


def test_a_message_refused_every_time_is_quarantined_with_the_reason(faulty: ImapSetup, settings):  # type: ignore[no-untyped-def]
    settings.FETCH_RETRY_MAX_ATTEMPTS = 2
    _deliver(faulty, 3)
    faulty.user.server.proxy.fail_fetch(2, folder="INBOX")

    faulty.pull()
    _make_due(faulty)
    second = faulty.pull()

    (fault,) = QuarantinedMessage.objects.filter(account=faulty.account)
    assert fault.state == FaultState.QUARANTINED and fault.attempts == 2 and fault.next_retry_at is None
    assert "FETCH answered NO" in fault.reason and second.report.quarantined == 1
    assert _subjects(faulty) == {"Lead 1", "Lead 3"}
    assert faulty.pull().report.quarantined == 0  # no longer asked for on every pull


def test_a_refused_message_expunged_meanwhile_leaves_the_retry_list_and_deletes_nothing(faulty: ImapSetup):
    _deliver(faulty, 3)
    fault = faulty.user.server.proxy.fail_fetch(2, folder="INBOX")
    faulty.pull()
    fault.off()
    with faulty.client() as other:  # deleted for good in another client before we got it
        other.select_folder("INBOX")
        other.delete_messages([2])
        other.uid_expunge([2])
    _make_due(faulty)

    summary = faulty.pull()

    assert summary.report.deleted == 0 and _subjects(faulty) == {"Lead 1", "Lead 3"}
    assert not QuarantinedMessage.objects.filter(account=faulty.account).exists()
    assert any("no longer in 'INBOX'" in note for note in summary.report.notes)


def test_a_message_dovecot_cannot_read_is_retried_while_the_rest_arrive(imap: ImapSetup):
    """No proxy here: Dovecot itself hangs up (``BYE Internal error``) when asked for a message
    whose file it cannot open — the pull logs in again and narrows down to that one."""
    subjects = _deliver(imap, 5)
    maildir = imap.user.server.maildir(imap.user)
    files = [path for sub in ("cur", "new") for path in (maildir / sub).iterdir()]
    (broken,) = [path for path in files if re.search(rb"Subject: Lead 3\r?\n", path.read_bytes())]
    broken.chmod(0o000)
    try:
        summary = imap.pull()
    finally:
        broken.chmod(0o600)

    assert summary.report.created == 4 and _subjects(imap) == set(subjects.values()) - {"Lead 3"}
    assert any("hung up while reading" in note for note in summary.report.notes)
    (retry,) = QuarantinedMessage.objects.filter(account=imap.account)
    assert retry.state == FaultState.RETRYING and "closed the connection" in retry.reason

    _make_due(imap)  # the file is readable again
    assert imap.pull().report.created == 1 and _subjects(imap) == set(subjects.values())
    assert not QuarantinedMessage.objects.filter(account=imap.account).exists()


def test_a_message_the_server_will_not_read_where_it_was_moved_stalls_nothing_and_deletes_nothing(
    faulty: ImapSetup,
):
    """A FETCH refused in a tracked folder (Archive) once stopped the whole pull before any
    cursor was saved: new mail never arrived again while the fault lasted."""
    question = faulty.deliver(subject="Quote")
    faulty.pull()
    faulty.move(question, "inbox", "archive")
    uid = faulty.uid_of(faulty.mua(), question, "archive")
    fault = faulty.user.server.proxy.fail_fetch(uid, folder="Archive")
    faulty.deliver(subject="Later")

    first = faulty.pull()  # asserts the pull did not fail
    second = faulty.pull()

    assert fault.hits >= 1  # the server really refused it
    assert _subjects(faulty) == {"Quote", "Later"}  # new mail arrives, nothing is deleted
    assert first.report.deleted == second.report.deleted == 0
    assert UnplacedMessage.objects.filter(account=faulty.account).count() == 1  # shown, not guessed

    fault.off()
    faulty.pull()

    ref = ProviderRef.objects.get(account=faulty.account, message__message_id=question)
    assert ref.folder == faulty.folder("archive")
    assert not UnplacedMessage.objects.filter(account=faulty.account).exists()
    assert _subjects(faulty) == {"Quote", "Later"}


def test_a_message_dovecot_cannot_read_in_the_archive_stalls_nothing_and_deletes_nothing(imap: ImapSetup):
    """No proxy: Dovecot hangs up (``BYE``) when asked for a message file it cannot open. In a
    tracked folder (Archive) that hang-up once failed every pull before any cursor was saved."""
    question = imap.deliver(subject="Quote")
    imap.pull()
    imap.move(question, "inbox", "archive")
    archive = imap.user.server.maildir(imap.user) / ".Archive"
    (broken,) = [path for sub in ("cur", "new") for path in (archive / sub).iterdir()]
    imap.deliver(subject="Later")
    broken.chmod(0o000)
    try:
        first = imap.pull()  # asserts the pull did not fail
        second = imap.pull()
    finally:
        broken.chmod(0o600)

    assert _subjects(imap) == {"Quote", "Later"}
    assert first.report.deleted == second.report.deleted == 0
    assert UnplacedMessage.objects.filter(account=imap.account).count() == 1

    imap.pull()

    ref = ProviderRef.objects.get(account=imap.account, message__message_id=question)
    assert ref.folder == imap.folder("archive")
    assert not UnplacedMessage.objects.filter(account=imap.account).exists()
