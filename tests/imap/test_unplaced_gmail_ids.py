"""On Gmail (``X-GM-EXT-1``) a message that left its folder is looked up by its X-GM-MSGID in
All Mail, Trash and Spam — not by a header search, which Gmail answers from an index that
lags. The server is the Gmail-style Dovecot (matrix (d)) behind the fault proxy's
``gmail_ids()`` trait: X-GM-EXT-1 advertised, X-GM-MSGID answered from Dovecot's X-GUID
(tests/imap/servers/proxy.py). Header searches are made blind by the proxy, so a check that
fell back to them would find nothing and delete on that guess."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inbox.models import MailAccount, Message, ProviderRef
from sync.models import GmailMessageId, UnplacedMessage
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot
from tests.imap.servers.proxy import FaultProxy

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


@pytest.fixture
def gmail(dovecot_gmail: Dovecot, acme, alice, bob) -> Iterator[tuple[ImapSetup, FaultProxy]]:  # type: ignore[no-untyped-def]
    proxy = FaultProxy(dovecot_gmail.port).gmail_ids().start()
    setup = make_setup(dovecot_gmail, "personal", acme=acme, alice=alice, bob=bob)
    # The app talks to "Gmail" (the proxy); the user's other mail client to Dovecot itself.
    config = {**setup.account.config, "port": proxy.port}
    MailAccount.objects.filter(pk=setup.account.pk).update(config=config)
    setup.account.refresh_from_db()
    try:
        yield setup, proxy
    finally:
        setup.close()
        proxy.stop()


def _ids(setup: ImapSetup) -> set[str]:
    return set(Message.objects.filter(account=setup.account).values_list("message_id", flat=True))


def test_the_pull_keeps_each_messages_gmail_id(gmail: tuple[ImapSetup, FaultProxy]):
    setup, proxy = gmail
    question = setup.deliver(subject="Quote")
    setup.pull()
    message = Message.objects.get(account=setup.account, message_id=question)
    stored = GmailMessageId.objects.get(account=setup.account, message=message)
    assert proxy.guids.get(stored.msgid)  # the id the server gave, not one made up


def test_archived_in_gmail_is_found_by_its_gmail_id_when_header_searches_find_nothing(
    gmail: tuple[ImapSetup, FaultProxy],
):
    setup, proxy = gmail
    question = setup.deliver(subject="Quote")
    other = setup.deliver(subject="Unrelated")
    setup.pull()
    blind = proxy.empty_header_search(times=None)  # Gmail's search index has not caught up

    setup.move(question, "inbox", "archive")  # archive in Gmail: out of INBOX, still in All Mail
    pulls = [setup.pull() for _ in range(3)]

    assert [p.report.deleted for p in pulls] == [0, 0, 0]
    assert _ids(setup) == {question, other}
    ref = ProviderRef.objects.get(account=setup.account, message__message_id=question)
    assert ref.folder == setup.folder("archive")  # [Gmail]/All Mail, found by X-GM-MSGID
    assert not UnplacedMessage.objects.filter(account=setup.account).exists()
    assert blind.hits == 0  # no header search was needed at all


def test_gone_from_every_label_is_deleted_after_two_checks_by_gmail_id(gmail: tuple[ImapSetup, FaultProxy]):
    setup, proxy = gmail
    question = setup.deliver(subject="Spam-ish")
    kept = setup.deliver(subject="Real lead")
    setup.pull()
    proxy.empty_header_search(times=None)

    setup.expunge(question, "inbox")  # deleted for good: in no label, not in Trash
    first = setup.pull()
    assert first.report.deleted == 0 and UnplacedMessage.objects.filter(account=setup.account).count() == 1
    second = setup.pull()

    assert second.report.deleted == 1
    assert _ids(setup) == {kept}


def test_all_mail_hidden_from_imap_deletes_nothing(gmail: tuple[ImapSetup, FaultProxy]):
    setup, proxy = gmail
    question = setup.deliver(subject="Quote")
    setup.pull()
    proxy.hide_folder(setup.folder("archive"))  # the user unticked "Show in IMAP" for All Mail

    setup.move(question, "inbox", "archive")
    pulls = [setup.pull() for _ in range(3)]

    assert [p.report.deleted for p in pulls] == [0, 0, 0] and _ids(setup) == {question}
    row = UnplacedMessage.objects.get(account=setup.account)
    assert "All Mail is hidden" in row.reason and row.complete_streak == 0
