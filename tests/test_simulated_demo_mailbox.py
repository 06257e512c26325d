"""The demo's simulated external mailbox (sync/providers/demo.py), unit level: the push
service runs in-process here; tests/browser/test_newcomer.py drives it through a real worker."""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import ChangeStatus, ProviderChange, ProviderRef
from sync.models import SimulatedMessage
from sync.pull import due_account_ids, pull_account
from sync.push import push_account
from tests.factories import personal_account, receive, switches

pytestmark = pytest.mark.django_db


def _folder(account, subject: str) -> str:  # type: ignore[no-untyped-def]
    return SimulatedMessage.objects.get(account=account, subject=subject).folder


@pytest.fixture
def demo(alice):  # type: ignore[no-untyped-def]
    return personal_account(alice, provider="demo", address="demo@acme.test")


def test_the_first_pull_places_the_mail_in_the_simulated_inbox_once(demo):
    receive(demo, subject="Hello")
    assert demo.pk in due_account_ids()
    pull_account(demo.pk)
    pull_account(demo.pk)
    assert list(SimulatedMessage.objects.filter(account=demo).values_list("subject", "folder")) == [
        ("Hello", "INBOX")
    ]


def test_with_the_switches_on_archive_unarchive_and_delete_move_it_there(alice, demo):
    convo = receive(demo, subject="Proposal").conversation_id
    pull_account(demo.pk)
    switches(alice, archive=True, delete=True)

    services.archive_conversations(alice, [convo])
    push_account(demo.pk)
    assert _folder(demo, "Proposal") == "Archive"
    assert ProviderRef.objects.get(account=demo).folder == "Archive"  # the app knows where it is

    services.unarchive_conversations(alice, [convo])
    push_account(demo.pk)
    assert _folder(demo, "Proposal") == "INBOX"

    services.delete_conversations(alice, [convo])
    push_account(demo.pk)
    assert _folder(demo, "Proposal") == "Trash"
    assert set(ProviderChange.objects.filter(account=demo).values_list("status", flat=True)) == {
        ChangeStatus.DONE
    }


def test_with_the_switches_off_nothing_moves(alice, demo):
    archived = receive(demo, subject="Archived in the app").conversation_id
    deleted = receive(demo, subject="Deleted in the app").conversation_id
    pull_account(demo.pk)
    services.archive_conversations(alice, [archived])
    services.delete_conversations(alice, [deleted])
    push_account(demo.pk)
    assert not ProviderChange.objects.filter(account=demo).exists()
    assert _folder(demo, "Archived in the app") == "INBOX"
    assert _folder(demo, "Deleted in the app") == "INBOX"


def test_a_change_pushed_twice_moves_nothing_the_second_time(alice, demo):
    from sync.providers.base import PushRequest
    from sync.providers.demo import DemoAdapter

    receive(demo, subject="Once")
    pull_account(demo.pk)
    ref = ProviderRef.objects.get(account=demo).snapshot()
    adapter = DemoAdapter(demo)
    first = adapter.push([PushRequest(1, "archive", [ref])])[0]
    again = adapter.push([PushRequest(2, "archive", [ref])])[0]
    assert first.details["moved"] == 1 and again.details == {
        "moved": 0,
        "already_there": 1,
        "folder": "Archive",
    }


def test_the_status_page_shows_the_simulated_folders(client, alice, demo):
    receive(demo, subject="Seen on the status page")
    pull_account(demo.pk)
    client.force_login(alice)
    html = client.get(f"/settings/email-sync/accounts/{demo.pk}/status/").content.decode()
    assert "The simulated external mailbox" in html
    assert 'data-count="inbox">1<' in html and 'data-count="trash">0<' in html
    assert "Seen on the status page" in html
