"""Read state both ways with Outlook: reading in the app PATCHes isRead through $batch (the
fake takes isRead only), marking unread sets it back; read or unread in Outlook shows in the
app after the next pull (delta reports the message again with its isRead)."""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import ChangeStatus, Conversation, ProviderChange
from sync.pull import pull_account
from sync.push import push_account
from tests.fakes.graph_server import make_mime
from tests.outlook.conftest import outlook_personal, seed

pytestmark = pytest.mark.django_db


def test_read_and_unread_in_the_app_set_isread_in_outlook(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    first, one = seed(account, mailbox, subject="One")
    second, two = seed(account, mailbox, subject="Two")
    ids = [one.conversation_id, two.conversation_id]

    services.mark_read(alice, ids, read=True)
    (change,) = ProviderChange.objects.all()
    push_account(account.pk)
    change.refresh_from_db()
    assert change.status == ChangeStatus.DONE and change.result == {"marked read": 2}
    assert mailbox.messages[first].is_read and mailbox.messages[second].is_read

    services.mark_read(alice, ids[:1], read=False)
    push_account(account.pk)
    assert not mailbox.messages[first].is_read and mailbox.messages[second].is_read


def test_read_and_unread_in_outlook_show_in_the_app_after_the_next_pull(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = mailbox.deliver(make_mime(subject="Read me", to=[account.address]))
    other_id = mailbox.deliver(make_mime(subject="Leave me", to=[account.address]))
    pull_account(account.pk)
    read_me = Conversation.objects.get(account=account, subject="Read me")
    leave_me = Conversation.objects.get(account=account, subject="Leave me")
    assert not read_me.is_read and not leave_me.is_read

    mailbox.mark_read(graph_id)  # read in Outlook
    pull_account(account.pk)
    read_me.refresh_from_db()
    leave_me.refresh_from_db()
    assert read_me.is_read and not leave_me.is_read
    assert not ProviderChange.objects.exists()  # it came from Outlook: nothing is pushed back

    mailbox.mark_read(graph_id, read=False)  # marked unread in Outlook
    mailbox.move(other_id, "archive")  # a move reports the message again, unchanged: stays unread
    pull_account(account.pk)
    read_me.refresh_from_db()
    leave_me.refresh_from_db()
    assert not read_me.is_read and not leave_me.is_read


def test_read_in_outlook_after_a_lost_delta_state_shows_after_the_resync(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    graph_id = mailbox.deliver(make_mime(subject="Read me", to=[account.address]))
    pull_account(account.pk)
    mailbox.mark_read(graph_id)
    mailbox.expire_delta("inbox")  # 410: the folder is listed again from scratch

    pull_account(account.pk)

    assert Conversation.objects.get(account=account).is_read
