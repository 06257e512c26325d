"""Outbox rows are written if and only if the applicable switch is on."""

from __future__ import annotations

import pytest

from accounts.models import Plan
from inbox import services
from inbox.models import ChangeKind, ChangeStatus, Provider, ProviderChange
from tests.factories import personal_account, receive, switches

pytestmark = pytest.mark.django_db


def _kinds(account) -> list[str]:  # type: ignore[no-untyped-def]
    return list(ProviderChange.objects.filter(account=account).order_by("id").values_list("kind", flat=True))


def test_personal_archive_switch_off_writes_no_outbox_row(alice, alice_mailbox):
    c = receive(alice_mailbox).conversation_id
    services.archive_conversations(alice, [c])
    services.unarchive_conversations(alice, [c])
    assert _kinds(alice_mailbox) == []


def test_personal_archive_switch_on_writes_archive_and_unarchive_rows(alice, alice_mailbox):
    switches(alice, archive=True)
    c = receive(alice_mailbox).conversation_id
    services.archive_conversations(alice, [c])
    services.unarchive_conversations(alice, [c])
    assert _kinds(alice_mailbox) == [ChangeKind.ARCHIVE, ChangeKind.UNARCHIVE]
    change = ProviderChange.objects.filter(account=alice_mailbox).first()
    assert change.status == ChangeStatus.PENDING
    assert change.actor == alice
    assert change.refs[0]["folder"] == "INBOX" and change.refs[0]["message_id"].startswith("<m")


def test_personal_delete_switch_governs_trash_rows_only(alice, alice_mailbox):
    switches(alice, archive=False, delete=True)
    a = receive(alice_mailbox).conversation_id
    b = receive(alice_mailbox).conversation_id
    services.archive_conversations(alice, [a])
    services.delete_conversations(alice, [b])
    assert _kinds(alice_mailbox) == [ChangeKind.TRASH]


def test_delete_snapshot_survives_the_messages(alice, alice_mailbox):
    switches(alice, delete=True)
    result = receive(alice_mailbox, message_id="<gone@client.test>")
    services.delete_conversations(alice, [result.conversation_id])
    change = ProviderChange.objects.get(account=alice_mailbox)
    assert change.refs[0]["message_id"] == "<gone@client.test>"
    assert change.refs[0]["uid"] is not None


def test_switches_are_per_user_for_personal_accounts(alice, bob, alice_mailbox, bob_mailbox):
    switches(alice, archive=True)
    a = receive(alice_mailbox).conversation_id
    b = receive(bob_mailbox).conversation_id
    services.archive_conversations(alice, [a])
    services.archive_conversations(bob, [b])
    assert _kinds(alice_mailbox) == [ChangeKind.ARCHIVE]
    assert _kinds(bob_mailbox) == []


def test_team_account_uses_its_own_switches_not_the_actors(alice, bob, sales_mailbox):
    switches(bob, archive=True, delete=True)  # bob's personal settings do not apply here
    c = receive(sales_mailbox).conversation_id
    services.archive_conversations(bob, [c])
    assert _kinds(sales_mailbox) == []
    sales_mailbox.archive_in_provider = True
    sales_mailbox.save()
    services.unarchive_conversations(bob, [c])
    assert _kinds(sales_mailbox) == [ChangeKind.UNARCHIVE]
    services.delete_conversations(alice, [c])
    assert _kinds(sales_mailbox) == [ChangeKind.UNARCHIVE]  # delete switch still off
    d = receive(sales_mailbox).conversation_id
    sales_mailbox.delete_in_provider = True
    sales_mailbox.save()
    services.delete_conversations(alice, [d])
    assert _kinds(sales_mailbox) == [ChangeKind.UNARCHIVE, ChangeKind.TRASH]


def test_lite_plan_never_writes_provider_changes(alice, acme, alice_mailbox):
    acme.plan = Plan.LITE
    acme.save()
    switches(alice, archive=True, delete=True)
    c = receive(alice_mailbox).conversation_id
    services.archive_conversations(alice, [c])
    services.delete_conversations(alice, [c])
    assert _kinds(alice_mailbox) == []


def test_demo_mailbox_pushes_to_its_simulated_mailbox_only_with_the_switch_on(alice):
    demo = personal_account(alice, provider=Provider.DEMO, address="demo@acme.test")
    services.archive_conversations(alice, [receive(demo).conversation_id])
    assert _kinds(demo) == []
    switches(alice, archive=True)
    services.archive_conversations(alice, [receive(demo).conversation_id])
    assert _kinds(demo) == ["archive"]


def test_outbox_row_commits_with_the_action_and_nudges_only_after_commit(
    alice, alice_mailbox, django_capture_on_commit_callbacks
):
    switches(alice, archive=True)
    c = receive(alice_mailbox).conversation_id
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.archive_conversations(alice, [c])
    assert len(callbacks) == 1
    # Read state is mirrored too (issue 19, no switch): one change, nudged after commit…
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.mark_read(alice, [c])
    assert len(callbacks) == 1 and _kinds(alice_mailbox) == ["archive", "read"]
    # …and reading what is read already changes nothing and nudges nothing.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.mark_read(alice, [c])
    assert callbacks == []


def test_failed_action_writes_nothing(alice, alice_mailbox, carol, carol_mailbox):
    switches(alice, archive=True)
    mine = receive(alice_mailbox).conversation_id
    theirs = receive(carol_mailbox).conversation_id
    from inbox.errors import NotFound

    with pytest.raises(NotFound):
        services.archive_conversations(alice, [mine, theirs])
    assert ProviderChange.objects.count() == 0
    assert services.archive_conversations(alice, [mine]).count == 1
