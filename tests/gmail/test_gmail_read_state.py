"""Read state to Gmail: reading in the app removes the UNREAD label (batchModify), marking
unread adds it back; one change per mailbox for many conversations."""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import ChangeStatus, Conversation, ProviderChange
from sync.pull import pull_account
from sync.push import push_account
from tests.gmail.conftest import GmailSetup
from tests.imap.dovecot import make_message

pytestmark = pytest.mark.django_db


def test_read_and_unread_in_the_app_move_gmails_unread_label(alice_gmail: GmailSetup, alice):
    ids = []
    for n in range(3):
        _, raw = make_message(subject=f"Lead {n}", to=alice_gmail.account.address)
        ids.append(alice_gmail.mailbox.deliver(raw))
    pull_account(alice_gmail.account.pk)
    conversations = list(
        Conversation.objects.filter(account=alice_gmail.account).values_list("pk", flat=True)
    )

    services.mark_read(alice, conversations, read=True)
    (change,) = ProviderChange.objects.all()
    push_account(alice_gmail.account.pk)
    assert ProviderChange.objects.get(pk=change.pk).status == ChangeStatus.DONE
    assert all("UNREAD" not in alice_gmail.mailbox.labels_of(i) for i in ids)

    services.mark_read(alice, conversations[:1], read=False)
    push_account(alice_gmail.account.pk)
    assert sum("UNREAD" in alice_gmail.mailbox.labels_of(i) for i in ids) == 1


def test_read_and_unread_in_gmail_itself_show_in_the_app_after_the_next_pull(alice_gmail: GmailSetup):
    _, raw = make_message(subject="Read in Gmail", to=alice_gmail.account.address)
    gmail_id = alice_gmail.mailbox.deliver(raw)
    pull_account(alice_gmail.account.pk)
    conversation = Conversation.objects.get(account=alice_gmail.account)
    assert not conversation.is_read

    alice_gmail.mailbox.remove_labels(gmail_id, "UNREAD")  # opened in Gmail
    pull_account(alice_gmail.account.pk)
    conversation.refresh_from_db()
    assert conversation.is_read

    alice_gmail.mailbox.add_labels(gmail_id, "UNREAD")  # marked unread there
    pull_account(alice_gmail.account.pk)
    conversation.refresh_from_db()
    assert not conversation.is_read and not ProviderChange.objects.exists()
