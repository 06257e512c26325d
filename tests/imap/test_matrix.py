"""Issue 14's "Must show" beyond the sync table (tests/imap/test_sync_table.py runs the table
on servers (a)–(e)):

* (b) a server with neither MOVE nor UIDPLUS: archive → unarchive → trash, with another mail
  client EXPUNGEing every folder after each step — the message is exactly where the rules
  say, once;
* (f) a fault-injecting proxy in front of Dovecot (tests/imap/servers/proxy.py): after each
  fault the mailbox keeps syncing, nothing is deleted in the app, a faulted message shows as
  "retrying" and arrives once the fault clears; a folder hidden from LIST for one pull costs
  nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from accounts.models import Company, User
from inbox import services
from inbox.models import (
    AccountStatus,
    ChangeStatus,
    Conversation,
    ConversationState,
    Message,
    ProviderChange,
    ProviderRef,
)
from sync.models import FaultState, QuarantinedMessage
from sync.pull import PullSummary, pull_account
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot, make_message
from tests.imap.servers.proxy import FaultProxy

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot, pytest.mark.matrix]


def _ids(setup: ImapSetup) -> set[str]:
    return set(Message.objects.filter(account=setup.account).values_list("message_id", flat=True))


# --- (b) neither MOVE nor UIDPLUS --------------------------------------------------------------------
@pytest.fixture
def nomove(dovecot_nomove: Dovecot, acme: Company, alice: User, bob: User) -> Iterator[ImapSetup]:
    setup = make_setup(dovecot_nomove, "personal", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


@pytest.mark.parametrize("compact", ["at-the-end", "after-every-step"])
def test_without_move_or_uidplus_archive_unarchive_trash_survive_another_clients_expunge(
    nomove: ImapSetup, compact: str
):
    """The issue's reproduction: with neither MOVE nor UIDPLUS the app's own \\Deleted
    leftovers sit next to the live copies; another client's EXPUNGE of every folder (at the
    end, or after every step) must never take the one live copy."""
    question = nomove.deliver(subject="Quote for 40 seats", sender="buyer@client.test")
    other = nomove.deliver(subject="Unrelated")
    nomove.pull()
    nomove.switches(archive=True, delete=True)
    conversation = Conversation.objects.get(account=nomove.account, subject="Quote for 40 seats")

    steps = [
        (services.archive_conversations, "archive"),
        (services.unarchive_conversations, "inbox"),
        (services.delete_conversations, "trash"),
    ]
    for action, where in steps:
        action(nomove.actor, [conversation.pk])
        nomove.push()
        assert nomove.placement() == {question: where, other: "inbox"}, action.__name__
        change = ProviderChange.objects.filter(account=nomove.account).latest("pk")
        assert change.status == ChangeStatus.DONE, change.result
        if compact == "after-every-step":
            nomove.expunge_all()
            assert nomove.placement() == {question: where, other: "inbox"}, action.__name__
        if where != "trash":
            summary = nomove.pull()
            assert summary.report.deleted == 0 and _ids(nomove) == {question, other}

    # Another mail client compacts every folder (plain EXPUNGE: there is no UIDPLUS), which
    # removes whatever the app left flagged \Deleted — never the one live copy.
    nomove.expunge_all()
    assert nomove.placement() == {question: "trash", other: "inbox"}
    assert nomove.pull().report.created == 0
    assert _ids(nomove) == {other}


# --- (f) faults ---------------------------------------------------------------------------------------
@pytest.fixture
def faulty(dovecot_faulty: Dovecot, acme: Company, alice: User, bob: User, settings) -> Iterator[ImapSetup]:
    settings.FETCH_RETRY_BASE_SECONDS = 0  # a refused message is asked for again on every pull
    setup = make_setup(dovecot_faulty, "personal", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


def _proxy(setup: ImapSetup) -> FaultProxy:
    proxy = setup.user.server.proxy
    assert proxy is not None
    return proxy


def _retrying(setup: ImapSetup) -> list[QuarantinedMessage]:
    return list(QuarantinedMessage.objects.filter(account=setup.account, state=FaultState.RETRYING))


def _pull(setup: ImapSetup) -> PullSummary:
    summary = pull_account(setup.account.pk)
    setup.account.refresh_from_db()
    return summary


@pytest.mark.parametrize("fault", ["fetch-no", "fetch-omitted"])
def test_a_message_the_server_will_not_return_is_retried_and_arrives_once_the_fault_clears(
    faulty: ImapSetup, fault: str
):
    first = faulty.deliver(subject="First")
    broken = faulty.deliver(subject="Broken for now")
    third = faulty.deliver(subject="Third")
    uid = faulty.uid_of(faulty.mua(), broken, "inbox")
    proxy = _proxy(faulty)
    refusal = (proxy.fail_fetch if fault == "fetch-no" else proxy.omit_fetch)(uid, folder="INBOX")

    summary = _pull(faulty)

    assert not summary.error, summary.line()
    assert refusal.hits >= 1  # the server really refused it
    assert _ids(faulty) == {first, third}  # the rest of the mailbox synced
    [retrying] = _retrying(faulty)
    assert retrying.locator.get("uid") == uid or str(uid) in retrying.provider_key

    # Still refused: the mailbox keeps syncing around it, nothing is deleted or skipped.
    later = faulty.deliver(subject="Later")
    again = _pull(faulty)
    assert not again.error and again.report.deleted == 0
    assert _ids(faulty) == {first, third, later}
    assert len(_retrying(faulty)) == 1

    refusal.off()
    _pull(faulty)

    assert _ids(faulty) == {first, broken, third, later}
    assert Message.objects.filter(account=faulty.account, message_id=broken).count() == 1
    assert not QuarantinedMessage.objects.filter(account=faulty.account).exists()
    assert _pull(faulty).report.created == 0


def test_a_temporary_login_refusal_backs_off_without_asking_to_reauthenticate(faulty: ImapSetup):
    question = faulty.deliver(subject="Quote")
    faulty.pull()
    faulty.switches(archive=True)
    conversation = Conversation.objects.get(account=faulty.account, subject="Quote")
    login = _proxy(faulty).refuse_login("UNAVAILABLE")

    services.archive_conversations(faulty.actor, [conversation.pk])
    faulty.push()
    assert faulty.placement() == {question: "inbox"}
    _pull(faulty)

    assert login.hits >= 1
    assert faulty.account.status != AccountStatus.NEEDS_REAUTH
    change = ProviderChange.objects.get(account=faulty.account)
    assert change.status != ChangeStatus.FAILED  # held for a later try, not given up on
    assert _ids(faulty) == {question}

    login.off()
    newer = faulty.deliver(subject="Newer")
    ProviderChange.objects.filter(pk=change.pk).update(next_attempt_at=timezone.now())  # backoff over
    faulty.push()
    assert faulty.placement() == {question: "archive", newer: "inbox"}
    summary = faulty.pull()

    assert faulty.account.status == AccountStatus.ACTIVE
    assert ProviderChange.objects.get(pk=change.pk).status == ChangeStatus.DONE
    assert faulty.placement() == {question: "archive", newer: "inbox"}
    assert summary.report.deleted == 0 and _ids(faulty) == {question, newer}


def _customers_folder(setup: ImapSetup) -> str:
    """A folder of the user's own: the app has no role for it, so a message moved there is
    found only by looking for it (SEARCH HEADER Message-ID) — which is what these faults hit."""
    name = setup.custom_folder("Customers")
    with setup.client() as client:
        client.create_folder(name)
    return name


def test_a_server_that_refuses_utf8_searches_still_finds_moved_messages(faulty: ImapSetup):
    plain = faulty.deliver(subject="Plain")
    # RFC 6532: a UTF-8 Message-ID; looking for it needs SEARCH CHARSET UTF-8.
    utf8_id, raw = make_message(
        subject="Grüße", message_id="<grüße-aus-köln@client.test>", to=faulty.account.address
    )
    faulty.append("inbox", raw)
    faulty.pull()
    assert _ids(faulty) == {plain, utf8_id}
    customers = _customers_folder(faulty)
    refusal = _proxy(faulty).refuse_charset()

    faulty.move(plain, "inbox", customers)
    faulty.move(utf8_id, "inbox", customers)
    for _ in range(3):
        summary = _pull(faulty)
        assert not summary.error and summary.report.deleted == 0
    assert refusal.hits >= 1  # the engine did ask, and was refused
    assert _ids(faulty) == {plain, utf8_id}  # one it cannot search for is unknown, not gone
    # The ASCII one is found by the ASCII fallback: one refusal does not blind the whole check.
    assert ProviderRef.objects.get(account=faulty.account, message__message_id=plain).folder == customers

    refusal.off()
    _pull(faulty)
    refs = {ref.message.message_id: ref.folder for ref in ProviderRef.objects.filter(account=faulty.account)}
    assert refs == {plain: customers, utf8_id: customers}
    assert _ids(faulty) == {plain, utf8_id}


def test_a_header_search_that_finds_nothing_once_deletes_nothing(faulty: ImapSetup):
    question = faulty.deliver(subject="Quote")
    faulty.pull()
    customers = _customers_folder(faulty)
    blind = _proxy(faulty).empty_header_search(times=None)

    faulty.move(question, "inbox", customers)
    summary = _pull(faulty)  # every HEADER search of this pull answers "nothing"
    blind.off()

    assert blind.hits >= 1
    assert not summary.error and summary.report.deleted == 0
    assert _ids(faulty) == {question}
    for _ in range(2):
        assert _pull(faulty).report.deleted == 0
    assert _ids(faulty) == {question}
    assert ProviderRef.objects.get(account=faulty.account, message__message_id=question).folder == customers
    conversation = Conversation.objects.get(account=faulty.account, subject="Quote")
    assert conversation.state == ConversationState.INBOX


def test_a_folder_hidden_from_list_for_one_pull_deletes_nothing(faulty: ImapSetup):
    archived = faulty.deliver(subject="Archived by the user")
    gone = faulty.deliver(subject="Really deleted")
    faulty.pull()
    faulty.move(archived, "inbox", "archive")
    faulty.pull()
    assert ProviderRef.objects.get(account=faulty.account, message__message_id=archived).folder == "Archive"

    hidden = _proxy(faulty).hide_folder("Archive")
    faulty.expunge(gone, "inbox")
    summary = _pull(faulty)
    hidden.off()

    assert hidden.hits >= 1
    assert not summary.error and summary.report.deleted == 0
    assert _ids(faulty) == {archived, gone}  # an incomplete check proves no absence
    assert _pull(faulty).report.deleted == 0
    assert archived in _ids(faulty)

    # With the folder back, complete checks on later pulls do delete the one really gone.
    for _ in range(3):
        if gone not in _ids(faulty):
            break
        _pull(faulty)
    assert _ids(faulty) == {archived}
    assert ProviderRef.objects.get(account=faulty.account, message__message_id=archived).folder == "Archive"
