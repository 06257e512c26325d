"""Services are the only writers: reading on open, mark_read's NotFound, explicit person
linking (no post_save signal), the one sync_switches(), mailbox status writes."""

from __future__ import annotations

import pytest
from django.db.models.signals import post_delete, post_save
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import PersonEmail
from inbox import services
from inbox.errors import NotFound
from inbox.models import AccountStatus, Conversation, MailAccount, Participant
from inbox.selectors import SyncSwitches, sync_switches
from inbox.services.mailboxes import record_sync_outcome, set_account_status
from tests.factories import add_person, parsed, receive

pytestmark = pytest.mark.django_db


def _unread(account, **kwargs) -> int:  # type: ignore[no-untyped-def]
    convo_id = receive(account, parsed(**kwargs)).conversation_id
    assert not Conversation.objects.get(pk=convo_id).is_read
    return convo_id


def test_mark_read_raises_not_found_for_a_foreign_id_and_changes_nothing(alice, alice_mailbox, carol_mailbox):
    mine, theirs = _unread(alice_mailbox), _unread(carol_mailbox)
    with pytest.raises(NotFound):
        services.mark_read(alice, [mine, theirs])
    with pytest.raises(NotFound):
        services.mark_read(alice, [mine, 999_999])
    assert not Conversation.objects.filter(pk__in=[mine, theirs], is_read=True).exists()
    assert services.mark_read(alice, [mine]) == 1
    assert Conversation.objects.get(pk=mine).is_read


def test_read_on_open_reads_the_users_own_conversation_not_a_shared_one(alice, bob, alice_mailbox):
    convo_id = _unread(alice_mailbox)
    services.set_shared(alice, convo_id, True)
    convo = Conversation.objects.get(pk=convo_id)
    assert services.read_on_open(bob, convo) is False  # shared with bob read-only
    assert not Conversation.objects.get(pk=convo_id).is_read
    assert services.read_on_open(alice, convo) is True and convo.is_read
    assert Conversation.objects.get(pk=convo_id).is_read
    assert services.read_on_open(alice, convo) is False  # already read: no write


def test_opening_a_conversation_page_reads_it_through_the_service(alice, alice_mailbox):
    convo_id = _unread(alice_mailbox)
    client = Client()
    client.force_login(alice)
    assert client.get(reverse("inbox:conversation", args=[convo_id])).status_code == 200
    assert Conversation.objects.get(pk=convo_id).is_read


def test_marking_read_in_the_list_with_a_foreign_id_is_404(alice, alice_mailbox, carol_mailbox):
    mine, theirs = _unread(alice_mailbox), _unread(carol_mailbox)
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("inbox:bulk_action"), {"action": "read", "ids": [mine, theirs]})
    assert response.status_code == 404
    assert not Conversation.objects.get(pk=mine).is_read


def test_no_signal_links_persons_saving_an_address_alone_links_nothing(acme, alice_mailbox):
    """The post_save signal is gone: linking is an explicit call (relink_person)."""
    assert not post_save.has_listeners(PersonEmail) and not post_delete.has_listeners(PersonEmail)
    convo_id = receive(alice_mailbox, parsed(sender="dana@client.test")).conversation_id
    person = add_person(acme, "Dana")  # no address yet
    PersonEmail.objects.create(company=acme, person=person, email="dana@client.test")
    sender = Participant.objects.get(conversation_id=convo_id, address="dana@client.test")
    assert sender.person_id is None
    assert services.relink_person(person) == 1
    sender.refresh_from_db()
    assert sender.person_id == person.pk


def test_relink_person_links_existing_mail_and_unlinks_a_removed_address(acme, alice_mailbox, carol_mailbox):
    old = receive(alice_mailbox, parsed(sender="dana@client.test")).conversation_id
    other_company = receive(carol_mailbox, parsed(sender="dana@client.test")).conversation_id
    person = add_person(acme, "Dana", "dana@client.test")  # saved and relinked as the API does
    linked = Participant.objects.get(conversation_id=old, address="dana@client.test")
    assert linked.person_id == person.pk
    assert (
        Participant.objects.get(conversation_id=other_company, address="dana@client.test").person_id is None
    )

    PersonEmail.objects.filter(person=person).delete()
    services.relink_person(person)
    linked.refresh_from_db()
    assert linked.person_id is None


def test_new_mail_links_to_a_known_person_on_arrival(acme, alice_mailbox):
    """The sync path never relied on the signal: ingest links participants itself."""
    person = add_person(acme, "Dana", "dana@client.test")
    convo_id = receive(alice_mailbox, parsed(sender="Dana@Client.test")).conversation_id
    assert (
        Participant.objects.get(conversation_id=convo_id, address="dana@client.test").person_id == person.pk
    )


def test_sync_switches_is_one_named_tuple_for_mailboxes_and_users(alice, bob, alice_mailbox, sales_mailbox):
    services.set_personal_switches(alice, archive=True, delete=False)
    services.set_team_switches(alice, sales_mailbox.pk, archive=False, delete=True)
    sales_mailbox.refresh_from_db()
    assert sync_switches(alice) == sync_switches(alice_mailbox) == SyncSwitches(archive=True, delete=False)
    assert sync_switches(sales_mailbox) == SyncSwitches(archive=False, delete=True)
    assert sync_switches(bob).archive is False and sync_switches(bob).delete is False


def test_set_account_status_and_record_sync_outcome_are_the_mailbox_services(alice_mailbox):
    before = timezone.now()
    set_account_status(alice_mailbox, AccountStatus.NEEDS_REAUTH, "password changed")
    record_sync_outcome(alice_mailbox, synced_at=before, error="temporary: busy", next_sync_at=before)
    stored = MailAccount.objects.get(pk=alice_mailbox.pk)
    assert (stored.status, stored.status_reason) == (AccountStatus.NEEDS_REAUTH, "password changed")
    assert (stored.last_sync_at, stored.last_sync_error, stored.next_sync_at) == (
        before,
        "temporary: busy",
        before,
    )
