"""Who sees and changes what: alice (admin), bob (teammate), carol (another company)."""

from __future__ import annotations

import pytest

from inbox import selectors, services
from inbox.errors import NotFound
from inbox.models import Conversation
from tests.factories import DealFactory, receive

pytestmark = pytest.mark.django_db


def test_user_sees_own_personal_and_member_team_mail_only(
    alice, bob, alice_mailbox, bob_mailbox, sales_mailbox
):
    mine = receive(alice_mailbox).conversation_id
    bobs = receive(bob_mailbox).conversation_id
    team = receive(sales_mailbox).conversation_id
    assert {c.pk for c in selectors.folder_page(alice, "inbox").conversations} == {mine, team}
    assert {c.pk for c in selectors.folder_page(bob, "inbox").conversations} == {bobs, team}


def test_admin_does_not_see_a_teammates_private_mailbox(alice, bob_mailbox):
    private = receive(bob_mailbox).conversation_id
    with pytest.raises(NotFound):
        selectors.get_conversation(alice, private)
    with pytest.raises(NotFound):
        selectors.get_account(alice, bob_mailbox.pk)


def test_non_member_does_not_see_team_mailbox(acme, alice, bob):
    from tests.factories import team_account

    support = team_account(acme, [alice], address="support@acme.test")
    conversation = receive(support).conversation_id
    with pytest.raises(NotFound):
        selectors.get_conversation(bob, conversation)
    with pytest.raises(NotFound):
        services.archive_conversations(bob, [conversation])


@pytest.mark.parametrize(
    "action",
    [services.archive_conversations, services.unarchive_conversations, services.delete_conversations],
)
def test_carol_gets_not_found_for_every_action_on_acme_mail(carol, alice_mailbox, action):
    conversation = receive(alice_mailbox).conversation_id
    with pytest.raises(NotFound):
        action(carol, [conversation])
    assert Conversation.objects.filter(pk=conversation).exists()


def test_carol_cannot_read_acme_conversations_history_or_records(carol, alice, alice_mailbox, acme):
    deal = DealFactory(company=acme)
    conversation = receive(alice_mailbox).conversation_id
    services.link_deal(alice, conversation, deal.pk)
    with pytest.raises(NotFound):
        selectors.get_conversation(carol, conversation)
    with pytest.raises(NotFound):
        selectors.history_emails(carol, "deal", deal.pk)
    assert selectors.folder_page(carol, "inbox").conversations == []
    with pytest.raises(NotFound):
        services.delete_messages(carol, [Conversation.objects.get(pk=conversation).messages.get().pk])


def test_carol_cannot_link_acme_mail_or_link_her_mail_to_acme_deals(
    carol, carol_mailbox, alice_mailbox, acme
):
    deal = DealFactory(company=acme)
    acme_conversation = receive(alice_mailbox).conversation_id
    own = receive(carol_mailbox).conversation_id
    with pytest.raises(NotFound):
        services.link_deal(carol, acme_conversation, deal.pk)
    with pytest.raises(NotFound):
        services.link_deal(carol, own, deal.pk)
    assert Conversation.objects.get(pk=own).deal_id is None


def test_shared_conversation_is_readable_by_teammate_but_not_actionable(alice, bob, alice_mailbox, acme):
    deal = DealFactory(company=acme)
    conversation = receive(alice_mailbox).conversation_id
    services.link_deal(alice, conversation, deal.pk)
    services.set_shared(alice, conversation, True)
    assert selectors.get_conversation(bob, conversation).pk == conversation
    assert [m.conversation_id for m in selectors.history_emails(bob, "deal", deal.pk)] == [conversation]
    with pytest.raises(NotFound):
        services.archive_conversations(bob, [conversation])


def test_history_shows_only_mail_the_viewer_may_see(alice, bob, alice_mailbox, bob_mailbox, acme):
    deal = DealFactory(company=acme)
    a = receive(alice_mailbox).conversation_id
    b = receive(bob_mailbox).conversation_id
    services.link_deal(alice, a, deal.pk)
    services.link_deal(bob, b, deal.pk)
    assert [m.conversation_id for m in selectors.history_emails(alice, "deal", deal.pk)] == [a]
    assert [m.conversation_id for m in selectors.history_emails(bob, "deal", deal.pk)] == [b]


def test_a_pages_mailboxes_are_each_users_own_and_member_team_mailboxes_only(
    alice, bob, carol, alice_mailbox, bob_mailbox, carol_mailbox, sales_mailbox
):
    """``user_mailboxes`` (read once per list page, its SQL compiled once per process) is
    ``accessible_accounts``: the admin alice does not get bob's private mailbox, carol gets
    only her own company's, and a page's mailboxes serve no other user."""
    assert [a.pk for a in selectors.user_mailboxes(alice).accounts] == [alice_mailbox.pk, sales_mailbox.pk]
    assert [a.pk for a in selectors.user_mailboxes(bob).accounts] == [bob_mailbox.pk, sales_mailbox.pk]
    assert [a.pk for a in selectors.user_mailboxes(carol).accounts] == [carol_mailbox.pk]
    with pytest.raises(NotFound):
        selectors.user_mailboxes(alice).get(bob_mailbox.pk)
    with pytest.raises(ValueError):
        selectors.folder_page(carol, "inbox", mailboxes=selectors.user_mailboxes(alice))
    with pytest.raises(ValueError):
        selectors.nav_counts(carol, mailboxes=selectors.user_mailboxes(alice))
