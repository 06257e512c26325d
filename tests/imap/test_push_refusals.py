"""A refusal fails only the change it belongs to: changes claimed together are pushed in one
batch (one SEARCH, one MOVE for many messages), but a NO about one change's messages must not
fail the others. ``NO [BADCHARSET]`` to a UTF-8 SEARCH (US-ASCII-only servers such as
Exchange) falls back to an ASCII search. The refusals come from the suite's fault proxy in
front of a real Dovecot (matrix variant (f))."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from inbox import services
from inbox.models import ChangeStatus, Conversation, ProviderChange, ProviderRef
from sync.providers.base import Outcome, PushRequest
from sync.providers.imap import ImapAdapter
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot
from tests.imap.live_copies import assert_one_live_copy
from tests.imap.servers.proxy import FaultProxy, _uid_set_contains

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


@pytest.fixture
def faulty(dovecot_faulty: Dovecot, acme, alice, bob) -> Iterator[ImapSetup]:  # type: ignore[no-untyped-def]
    setup = make_setup(dovecot_faulty, "personal", acme=acme, alice=alice, bob=bob)
    setup.switches(archive=True)
    yield setup
    setup.close()


def _proxy(setup: ImapSetup) -> FaultProxy:
    proxy = setup.user.server.proxy
    assert proxy is not None
    return proxy


def _refuse(
    monkeypatch: pytest.MonkeyPatch, proxy: FaultProxy, verb: str, matches, answer: bytes
) -> list[bytes]:  # type: ignore[no-untyped-def]
    """The server answers ``answer`` to every ``verb`` command ``matches`` accepts."""
    refused: list[bytes] = []
    on_command = proxy._on_command

    def refuse(command):  # type: ignore[no-untyped-def]
        if command.name == verb and matches(command.text):
            refused.append(command.text)
            return answer
        return on_command(command)

    monkeypatch.setattr(proxy, "_on_command", refuse)
    return refused


def _renumber_inbox(setup: ImapSetup) -> None:
    """A new UIDVALIDITY: the stored UIDs mean nothing, every message is searched for."""
    server = setup.user.server
    subprocess.run(
        ["doveadm", "-c", str(server.config_file), "mailbox", "update", "-u", setup.user.login,
         "--uid-validity", "4242", "INBOX"],
        check=True, user=server.run_as.pw_uid, group=server.run_as.pw_gid,
    )  # fmt: skip


def _archive_each(setup: ImapSetup, *subjects: str) -> list[ProviderChange]:
    """One change per conversation, claimed together by the next push."""
    changes = []
    for subject in subjects:
        conversation = Conversation.objects.get(account=setup.account, subject=subject)
        changes += services.archive_conversations(setup.actor, [conversation.pk]).changes
    return changes


def _status(change: ProviderChange) -> str:
    change.refresh_from_db()
    return change.status


def test_a_refused_search_fails_only_the_change_it_was_about(faulty: ImapSetup, monkeypatch):  # type: ignore[no-untyped-def]
    troubled = faulty.deliver(subject="Troubled")
    fine = faulty.deliver(subject="Fine")
    faulty.pull()
    _renumber_inbox(faulty)
    bad, good = _archive_each(faulty, "Troubled", "Fine")
    refused = _refuse(
        monkeypatch,
        _proxy(faulty),
        "UID SEARCH",
        lambda text: troubled.encode() in text,
        b"NO [CANNOT] Search failed",
    )

    summary = faulty.push()

    assert refused and summary.done == 1 and summary.failed == 1
    assert _status(good) == ChangeStatus.DONE and _status(bad) == ChangeStatus.FAILED
    assert "could not be located" in bad.last_error and "Search failed" in bad.last_error
    assert faulty.ids("archive") == [fine] and faulty.ids("inbox") == [troubled]
    assert_one_live_copy(faulty.mua(), [troubled, fine])


def test_a_refused_move_fails_only_the_change_it_was_about(faulty: ImapSetup, monkeypatch):  # type: ignore[no-untyped-def]
    troubled = faulty.deliver(subject="Too big to move")
    fine = faulty.deliver(subject="Moves fine")
    faulty.pull()
    bad, good = _archive_each(faulty, "Too big to move", "Moves fine")
    uid = ProviderRef.objects.get(account=faulty.account, message__message_id=troubled).uid

    def covers_troubled(text: bytes) -> bool:
        return _uid_set_contains(text.split(b" ")[3], uid)

    refused = _refuse(
        monkeypatch, _proxy(faulty), "UID MOVE", covers_troubled, b"NO [OVERQUOTA] Quota exceeded"
    )

    summary = faulty.push()

    assert len(refused) == 2  # the batch, then the troubled change on its own
    assert summary.done == 1 and summary.failed == 1
    assert _status(good) == ChangeStatus.DONE and _status(bad) == ChangeStatus.FAILED
    assert "Quota exceeded" in bad.last_error
    assert faulty.ids("archive") == [fine] and faulty.ids("inbox") == [troubled]
    assert_one_live_copy(faulty.mua(), [troubled, fine])


def test_badcharset_falls_back_to_an_ascii_search_and_fails_only_the_non_ascii_message(faulty: ImapSetup):
    plain = faulty.deliver(subject="Plain id")
    accented = faulty.deliver(subject="Accented id", message_id=f"<résumé-{uuid.uuid4().hex}@client.test>")
    faulty.pull()
    _renumber_inbox(faulty)
    ascii_change, utf8_change = _archive_each(faulty, "Plain id", "Accented id")
    refs = list(utf8_change.refs)
    charset = _proxy(faulty).refuse_charset()  # a US-ASCII-only server, like Exchange

    summary = faulty.push()

    assert charset.hits >= 1
    assert summary.done == 1 and summary.failed == 1
    assert _status(ascii_change) == ChangeStatus.DONE
    assert _status(utf8_change) == ChangeStatus.FAILED
    assert "US-ASCII only" in utf8_change.last_error
    assert faulty.ids("archive") == [plain] and faulty.ids("inbox") == [accented]

    charset.off()  # a server that takes UTF-8 finds it
    (result,) = ImapAdapter(faulty.account).push([PushRequest(utf8_change.pk, "archive", refs)])
    assert result.outcome == Outcome.DONE and result.details["moved"] == 1, result.error
    assert sorted(faulty.ids("archive")) == sorted([plain, accented])


@pytest.mark.parametrize("where", ["at-its-uid", "searched-for"])
def test_a_message_the_server_will_not_return_fails_only_its_own_change(faulty: ImapSetup, where: str):
    """Dovecot answers ``NO [SERVERBUG]`` for a message it cannot read; that code once held
    every change of the push (a "busy server" retry) for as long as the message stayed broken."""
    troubled = faulty.deliver(subject="Broken on disk")
    fine = faulty.deliver(subject="Reads fine")
    faulty.pull()
    newer = faulty.deliver(subject="Arrived since")  # INBOX changed: its UIDs are read again
    if where == "searched-for":
        _renumber_inbox(faulty)  # the stored UIDs mean nothing: both are found by Message-ID
    bad, good = _archive_each(faulty, "Broken on disk", "Reads fine")
    uid = faulty.uid_of(faulty.mua(), troubled, "inbox")
    refusal = _proxy(faulty).fail_fetch(uid, folder="INBOX")

    summary = faulty.push()

    assert refusal.hits >= 1
    assert summary.done == 1 and summary.failed == 1
    assert _status(good) == ChangeStatus.DONE and _status(bad) == ChangeStatus.FAILED
    assert "could not" in bad.last_error or "would not return" in bad.last_error, bad.last_error
    assert faulty.ids("archive") == [fine] and sorted(faulty.ids("inbox")) == sorted([troubled, newer])
    assert_one_live_copy(faulty.mua(), [troubled, fine, newer])


def test_a_message_dovecot_cannot_read_fails_only_its_own_change(imap: ImapSetup):
    """No proxy: Dovecot hangs up (``BYE``) when asked for a message file it cannot open. The
    push once failed as a whole on that hang-up, and again on every retry, holding every change."""
    troubled = imap.deliver(subject="Broken on disk")
    fine = imap.deliver(subject="Reads fine")
    imap.pull()
    newer = imap.deliver(subject="Arrived since")  # INBOX changed: its UIDs are read again
    imap.switches(archive=True)
    bad, good = _archive_each(imap, "Broken on disk", "Reads fine")
    maildir = imap.user.server.maildir(imap.user)
    files = [path for sub in ("cur", "new") for path in (maildir / sub).iterdir()]
    (broken,) = [path for path in files if re.search(rb"Subject: Broken on disk\r?\n", path.read_bytes())]
    broken.chmod(0o000)
    try:
        summary = imap.push()
    finally:
        # Dovecot renames a maildir file when it moves from new/ to cur/ (the name's base stays).
        base = broken.name.split(":")[0]
        for path in [
            p for sub in ("cur", "new") for p in (maildir / sub).iterdir() if p.name.startswith(base)
        ]:
            path.chmod(0o600)

    assert summary.done == 1 and summary.failed == 1, summary
    assert _status(good) == ChangeStatus.DONE and _status(bad) == ChangeStatus.FAILED
    assert "closed the connection" in bad.last_error, bad.last_error
    assert imap.ids("archive") == [fine] and sorted(imap.ids("inbox")) == sorted([troubled, newer])
    assert_one_live_copy(imap.mua(), [troubled, fine, newer])
