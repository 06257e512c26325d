"""Ingest: threading, re-seen messages, tombstones and the un-archive rule (decision 3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import services
from inbox.models import Conversation, ConversationState, Message, Participant, ProviderRef
from inbox.types import IngestOutcome, RefData
from tests.factories import OrganizationFactory, add_person, parsed, receive

pytestmark = pytest.mark.django_db


def test_reply_threads_by_in_reply_to(alice_mailbox):
    first = receive(alice_mailbox, message_id="<a@x.test>", subject="Offer")
    reply = receive(
        alice_mailbox,
        parsed(
            message_id="<b@x.test>", in_reply_to="<a@x.test>", subject="Re: Offer", to=("alice@acme.test",)
        ),
    )
    assert reply.conversation_id == first.conversation_id
    assert Conversation.objects.get(pk=first.conversation_id).message_count == 2


def test_reply_threads_by_references_when_in_reply_to_is_unknown(alice_mailbox):
    first = receive(alice_mailbox, message_id="<root@x.test>", subject="Offer")
    reply = receive(
        alice_mailbox,
        parsed(
            message_id="<c@x.test>",
            in_reply_to="<missing@x.test>",
            references=["<root@x.test>", "<missing@x.test>"],
            subject="totally different",
        ),
    )
    assert reply.conversation_id == first.conversation_id


def test_reply_arriving_before_its_parent_still_threads(alice_mailbox):
    child = receive(alice_mailbox, parsed(message_id="<child@x.test>", in_reply_to="<parent@x.test>"))
    parent = receive(alice_mailbox, parsed(message_id="<parent@x.test>", subject="Whatever"))
    assert parent.conversation_id == child.conversation_id


def test_subject_fallback_threads_same_people_within_window(alice_mailbox):
    now = timezone.now()
    first = receive(
        alice_mailbox,
        parsed(
            subject="Invoice 7",
            sender="dana@client.test",
            to=("alice@acme.test",),
            when=now - timedelta(days=2),
        ),
    )
    again = receive(
        alice_mailbox,
        parsed(subject="RE: Sv: invoice 7", sender="dana@client.test", to=("alice@acme.test",), when=now),
    )
    assert again.conversation_id == first.conversation_id


def test_subject_fallback_does_not_join_strangers_or_old_threads(alice_mailbox):
    now = timezone.now()
    first = receive(
        alice_mailbox,
        parsed(
            subject="Hello", sender="dana@client.test", to=("alice@acme.test",), when=now - timedelta(days=90)
        ),
    )
    old = receive(
        alice_mailbox, parsed(subject="Hello", sender="dana@client.test", to=("alice@acme.test",), when=now)
    )
    stranger = receive(
        alice_mailbox, parsed(subject="Hello", sender="eve@other.test", to=("alice@acme.test",), when=now)
    )
    assert len({first.conversation_id, old.conversation_id, stranger.conversation_id}) == 3


def test_reseen_message_changes_nothing(alice, alice_mailbox):
    message = parsed(to=("alice@acme.test",))
    ref = RefData(key="imap:INBOX:1:10", folder="INBOX", uidvalidity=1, uid=10)
    first = services.ingest_message(alice_mailbox, message, ref)
    services.mark_read(alice, [first.conversation_id])
    services.archive_conversations(alice, [first.conversation_id])
    again = services.ingest_message(alice_mailbox, message, ref)
    assert again.outcome == IngestOutcome.DUPLICATE and not again.unarchived
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.state == ConversationState.ARCHIVED and conversation.is_read
    assert conversation.message_count == 1


def test_same_message_seen_in_another_folder_adds_a_reference_only(alice, alice_mailbox):
    message = parsed(to=("alice@acme.test",))
    first = services.ingest_message(alice_mailbox, message, RefData(key="imap:INBOX:1:10", folder="INBOX"))
    services.archive_conversations(alice, [first.conversation_id])
    moved = services.ingest_message(alice_mailbox, message, RefData(key="imap:Archive:1:3", folder="Archive"))
    assert moved.outcome == IngestOutcome.DUPLICATE
    assert Message.objects.count() == 1
    assert set(ProviderRef.objects.values_list("folder", flat=True)) == {"INBOX", "Archive"}
    assert Conversation.objects.get(pk=first.conversation_id).state == ConversationState.ARCHIVED


def test_new_incoming_message_returns_archived_conversation_to_inbox(alice, alice_mailbox):
    first = receive(alice_mailbox, message_id="<t1@x.test>")
    services.archive_conversations(alice, [first.conversation_id])
    reply = receive(alice_mailbox, parsed(message_id="<t2@x.test>", in_reply_to="<t1@x.test>"))
    assert reply.unarchived
    assert Conversation.objects.get(pk=first.conversation_id).state == ConversationState.INBOX


def test_own_sent_reply_keeps_conversation_archived(alice, alice_mailbox):
    first = receive(alice_mailbox, message_id="<s1@x.test>")
    services.archive_conversations(alice, [first.conversation_id])
    sent = receive(
        alice_mailbox,
        parsed(message_id="<s2@x.test>", in_reply_to="<s1@x.test>", sender="alice@acme.test", incoming=False),
        folder="Sent",
    )
    assert not sent.unarchived
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.state == ConversationState.ARCHIVED and conversation.has_outgoing


def test_participants_link_to_person_by_any_address_and_so_to_organization(acme, alice_mailbox):
    org = OrganizationFactory(company=acme, name="Client AB")
    dana = add_person(acme, "Dana", "dana@client.test", "dana.private@mail.test", organization=org)
    result = receive(alice_mailbox, sender="dana.private@mail.test")
    participant = Participant.objects.get(
        conversation_id=result.conversation_id, address="dana.private@mail.test"
    )
    assert participant.person == dana and participant.person.organization == org


def test_person_added_later_links_existing_conversations(acme, alice_mailbox):
    result = receive(alice_mailbox, sender="newbie@client.test")
    person = add_person(acme, "Newbie", "NEWBIE@client.test")
    assert (
        Participant.objects.get(conversation_id=result.conversation_id, address="newbie@client.test").person
        == person
    )


def test_persons_of_another_company_are_never_linked(carol, alice_mailbox):
    add_person(carol.company, "Dana elsewhere", "dana@client.test")
    result = receive(alice_mailbox, sender="dana@client.test")
    assert (
        Participant.objects.get(conversation_id=result.conversation_id, address="dana@client.test").person
        is None
    )


def test_replies_to_a_message_not_synced_share_one_conversation(alice_mailbox):
    """A newest-first sync reads replies before what they answer (or the original is outside
    the synced range): two answers to the same unknown message are one thread."""
    bob_answer = receive(
        alice_mailbox,
        parsed(
            message_id="<r1@x.test>",
            in_reply_to="<original@x.test>",
            subject="Re: Terms",
            to=("alice@acme.test",),
        ),
    )
    carol_answer = receive(
        alice_mailbox,
        parsed(
            message_id="<r2@x.test>",
            in_reply_to="<original@x.test>",
            subject="Re: Terms",
            sender="carol@other.test",
            to=("alice@acme.test",),
        ),
    )
    original = receive(alice_mailbox, parsed(message_id="<original@x.test>", subject="Terms"))

    assert bob_answer.conversation_id == carol_answer.conversation_id == original.conversation_id
    assert Conversation.objects.get(pk=original.conversation_id).message_count == 3
