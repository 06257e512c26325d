"""Connecting mailboxes under the plan rules; the switches and who may change them."""

from __future__ import annotations

import pytest

from accounts.models import Plan
from inbox import selectors, services
from inbox.errors import NotAllowed, NotFound, PlanLimitReached
from inbox.models import AccountStatus, Conversation, MailAccount, UserSyncSettings
from tests.factories import receive

pytestmark = pytest.mark.django_db

IMAP = {"provider": "imap", "credentials": {"password": "pw"}, "config": {"host": "127.0.0.1"}}


def _plan(company, plan):  # type: ignore[no-untyped-def]
    company.plan = plan
    company.save()


def test_lite_plan_cannot_connect_any_mailbox(alice, acme):
    _plan(acme, Plan.LITE)
    with pytest.raises(PlanLimitReached, match="Growth plan and higher"):
        services.connect_personal_mailbox(alice, address="alice@acme.test", **IMAP)
    assert not MailAccount.objects.exists()


def test_growth_allows_one_personal_mailbox_and_no_team_mailbox(alice, acme):
    _plan(acme, Plan.GROWTH)
    services.connect_personal_mailbox(alice, address="alice@acme.test", **IMAP)
    with pytest.raises(PlanLimitReached, match="1 connected mailbox"):
        services.connect_personal_mailbox(alice, address="alice.two@acme.test", **IMAP)
    with pytest.raises(PlanLimitReached, match="Premium"):
        services.connect_team_mailbox(alice, address="sales@acme.test", name="Sales", members=[alice], **IMAP)


@pytest.mark.parametrize(("plan", "limit"), [(Plan.PREMIUM, 3), (Plan.ULTIMATE, 5)])
def test_premium_and_ultimate_limits_count_team_mailboxes_too(alice, acme, plan, limit):
    _plan(acme, plan)
    services.connect_team_mailbox(alice, address="team@acme.test", name="Team", members=[alice], **IMAP)
    for i in range(limit - 1):
        services.connect_personal_mailbox(alice, address=f"alice{i}@acme.test", **IMAP)
    with pytest.raises(PlanLimitReached):
        services.connect_personal_mailbox(alice, address="one.too.many@acme.test", **IMAP)


def test_demo_mailboxes_do_not_count_against_the_limit(alice, acme):
    _plan(acme, Plan.GROWTH)
    from tests.factories import personal_account

    personal_account(alice, provider="demo", address="demo@acme.test")
    services.connect_personal_mailbox(alice, address="alice@acme.test", **IMAP)


def test_only_admins_connect_team_mailboxes_and_pick_members(alice, bob, carol, acme):
    with pytest.raises(NotAllowed):
        services.connect_team_mailbox(bob, address="sales@acme.test", name="Sales", members=[bob], **IMAP)
    from inbox.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        services.connect_team_mailbox(alice, address="sales@acme.test", name="Sales", members=[carol], **IMAP)
    team = services.connect_team_mailbox(
        alice, address="sales@acme.test", name="Sales", members=[bob], **IMAP
    )
    conversation = receive(team).conversation_id
    assert selectors.get_conversation(bob, conversation).pk == conversation
    with pytest.raises(NotFound):  # alice is admin but not a member
        selectors.get_conversation(alice, conversation)
    services.set_team_members(alice, team.pk, [alice])
    with pytest.raises(NotFound):
        selectors.get_conversation(bob, conversation)


def test_personal_switches_belong_to_the_user(alice, bob):
    services.set_personal_switches(bob, archive=True, delete=False)
    assert UserSyncSettings.objects.get(user=bob).archive_in_provider
    assert not UserSyncSettings.objects.filter(user=alice).exists()


def test_team_switches_only_change_by_admin(alice, bob, sales_mailbox):
    with pytest.raises(NotAllowed):
        services.set_team_switches(bob, sales_mailbox.pk, archive=True, delete=True)
    services.set_team_switches(alice, sales_mailbox.pk, archive=True, delete=True)
    assert selectors.sync_switches(MailAccount.objects.get(pk=sales_mailbox.pk)) == (True, True)


def test_carol_cannot_touch_acme_mailboxes(carol, sales_mailbox, alice_mailbox):
    with pytest.raises(NotFound):
        services.set_team_switches(carol, sales_mailbox.pk, archive=True, delete=True)
    with pytest.raises(NotFound):
        services.disconnect_mailbox(carol, alice_mailbox.pk, keep_mail=False)


def test_disconnect_keeping_mail_stops_sync_but_keeps_history(alice, alice_mailbox):
    conversation = receive(alice_mailbox).conversation_id
    services.disconnect_mailbox(alice, alice_mailbox.pk, keep_mail=True)
    account = MailAccount.objects.get(pk=alice_mailbox.pk)
    assert account.status == AccountStatus.DISCONNECTED and account.credentials == {}
    assert not account.syncs_with_provider
    assert Conversation.objects.filter(pk=conversation).exists()


def test_disconnect_removing_mail_deletes_the_synced_conversations(alice, alice_mailbox):
    conversation = receive(alice_mailbox).conversation_id
    services.disconnect_mailbox(alice, alice_mailbox.pk, keep_mail=False)
    assert not Conversation.objects.filter(pk=conversation).exists()


def test_resume_lifts_a_mass_delete_pause(alice, alice_mailbox):
    services.pause_for_mass_delete(alice_mailbox, would_delete=400, total=500)
    assert MailAccount.objects.get(pk=alice_mailbox.pk).status == AccountStatus.PAUSED
    services.resume_mailbox(alice, alice_mailbox.pk)
    assert MailAccount.objects.get(pk=alice_mailbox.pk).status == AccountStatus.ACTIVE


def test_an_address_connected_by_a_teammate_is_refused(alice, bob, alice_mailbox):
    from inbox.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="someone else"):
        services.connect_personal_mailbox(bob, address=alice_mailbox.address, **IMAP)


def test_admin_manages_a_team_mailbox_she_is_not_a_member_of_without_reading_it(alice, bob, acme):
    from tests.factories import team_account

    support = team_account(acme, [bob], address="support@acme.test")
    conversation = receive(support).conversation_id
    services.set_team_switches(alice, support.pk, archive=True, delete=False)
    services.pause_for_mass_delete(support, would_delete=50, total=60)
    services.resume_mailbox(alice, support.pk)
    assert MailAccount.objects.get(pk=support.pk).archive_in_provider
    assert MailAccount.objects.get(pk=support.pk).status == AccountStatus.ACTIVE
    with pytest.raises(NotFound):
        selectors.get_conversation(alice, conversation)
    with pytest.raises(NotAllowed):  # bob is a member but not an admin
        services.set_team_switches(bob, support.pk, archive=False, delete=False)
