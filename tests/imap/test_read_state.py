"""Read state both ways with a real Dovecot: read / unread in the app becomes \\Seen at the
server (one outbox change per mailbox, no switch), and another mail client's STORE
+FLAGS / -FLAGS \\Seen shows in the app after the next pull."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from inbox import services
from inbox.models import ChangeKind, ChangeStatus, Conversation, ProviderChange
from tests.imap.conftest import ImapSetup

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
