"""Read state to Outlook: reading in the app PATCHes isRead through $batch (the fake takes
isRead only), marking unread sets it back."""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import ChangeStatus, ProviderChange
from sync.push import push_account
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
