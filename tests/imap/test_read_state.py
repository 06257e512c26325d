"""Read state both ways with a real Dovecot: read / unread in the app becomes \\Seen at the
server (one outbox change per mailbox, no switch), and another mail client's STORE
+FLAGS / -FLAGS \\Seen shows in the app after the next pull."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Company, User
from inbox import services
from inbox.models import ChangeKind, ChangeStatus, Conversation, ProviderChange
from tests.imap.conftest import ImapSetup, make_setup, require_cyrus, server
from tests.imap.dovecot import Dovecot

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def _seen(setup: ImapSetup, message_id: str) -> bool:
    client = setup.mua()
    uid = setup.uid_of(client, message_id, "inbox")
    return b"\\Seen" in client.get_flags([uid])[uid]


def _conversation(setup: ImapSetup, subject: str) -> Conversation:
    return Conversation.objects.get(account=setup.account, subject=subject)


def test_opening_a_conversation_marks_it_seen_at_the_server(imap: ImapSetup, alice):
    mid = imap.deliver(subject="Quote")
    imap.pull()
    conversation = _conversation(imap, "Quote")
    assert not conversation.is_read and not _seen(imap, mid)
    client = Client()
    client.force_login(alice)

    client.get(reverse("inbox:conversation", args=[conversation.pk]))
    (change,) = ProviderChange.objects.filter(account=imap.account)
    assert change.kind == ChangeKind.READ  # no switch needed: nothing is destroyed
    imap.push()

    assert ProviderChange.objects.get(pk=change.pk).status == ChangeStatus.DONE
    assert _seen(imap, mid)


def test_mark_unread_from_the_list_takes_seen_away_in_one_change_per_mailbox(imap: ImapSetup, alice):
    mids = [imap.deliver(subject=f"Lead {n}", flags=(b"\\Seen",)) for n in range(3)]
    imap.pull()
    ids = list(Conversation.objects.filter(account=imap.account).values_list("pk", flat=True))
    assert Conversation.objects.filter(pk__in=ids, is_read=True).count() == 3

    assert services.mark_read(alice, ids, read=False) == 3
    (change,) = ProviderChange.objects.filter(account=imap.account)
    assert change.kind == ChangeKind.UNREAD and len(change.refs) == 3
    imap.push()

    assert not any(_seen(imap, mid) for mid in mids)


def test_reading_what_is_already_read_pushes_nothing(imap: ImapSetup, alice):
    imap.deliver(subject="Old", flags=(b"\\Seen",))
    imap.pull()
    services.mark_read(alice, [_conversation(imap, "Old").pk], read=True)
    assert not ProviderChange.objects.exists()


def test_seen_set_by_another_mail_client_reads_the_conversation_in_the_app(imap: ImapSetup):
    mid = imap.deliver(subject="Read elsewhere")
    imap.pull()
    assert not _conversation(imap, "Read elsewhere").is_read
    client = imap.mua()
    uid = imap.uid_of(client, mid, "inbox")

    client.add_flags([uid], [b"\\Seen"])  # Thunderbird: STORE +FLAGS (\Seen)
    imap.pull()
    assert _conversation(imap, "Read elsewhere").is_read

    client.remove_flags([uid], [b"\\Seen"])  # and marked unread again there
    imap.pull()
    assert not _conversation(imap, "Read elsewhere").is_read
    assert not ProviderChange.objects.exists()  # nothing pushed back


# Servers without QRESYNC (fallback: no CONDSTORE either; nomove, localized, gmail-style and
# Cyrus as the matrix runs them): the pull cannot ask which flags changed, so it compares the
# folder's unread UIDs with the last pull's.
@pytest.fixture(params=["standard", "fallback", "nomove", "localized", "gmail", "cyrus"])
def any_server(
    request: pytest.FixtureRequest, dovecot_servers: dict[str, Dovecot], acme: Company, alice: User, bob: User
) -> Iterator[ImapSetup]:
    if request.param == "cyrus":
        require_cyrus()
    setup = make_setup(server(dovecot_servers, request.param), "personal", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


def test_read_and_unread_in_another_client_show_in_the_app_on_every_server(any_server: ImapSetup):
    setup = any_server
    first = setup.deliver(subject="Pricing question")
    setup.deliver(subject="Already read there", flags=(b"\\Seen",))
    setup.pull()
    assert not _conversation(setup, "Pricing question").is_read
    assert _conversation(setup, "Already read there").is_read
    client = setup.mua()
    uid = setup.uid_of(client, first, "inbox")

    client.add_flags([uid], [b"\\Seen"])  # read in the other client; nothing else changed
    setup.pull()
    assert _conversation(setup, "Pricing question").is_read

    client.remove_flags([uid], [b"\\Seen"])  # and marked unread again there
    setup.deliver(subject="Meanwhile")
    setup.pull()
    assert not _conversation(setup, "Pricing question").is_read
    assert _conversation(setup, "Already read there").is_read  # untouched: it did not change
    assert not ProviderChange.objects.exists()  # nothing pushed back


def test_a_read_in_the_app_not_pushed_yet_is_not_undone_by_a_pull_without_qresync(any_server: ImapSetup):
    setup = any_server
    setup.deliver(subject="Read in the app")
    setup.pull()
    conversation = _conversation(setup, "Read in the app")

    services.mark_read(setup.actor, [conversation.pk], read=True)  # its push has not run yet
    setup.pull()
    setup.pull()

    conversation.refresh_from_db()
    assert conversation.is_read
    assert ProviderChange.objects.filter(kind=ChangeKind.READ).exists()
