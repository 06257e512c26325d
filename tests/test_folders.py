"""inbox/folders.py: the one rule of what is in the Inbox, Sent and Archive, and what may be
archived; every reader (browser lists, API, counts, status page) uses it."""

from __future__ import annotations

import itertools

import pytest

from inbox import services
from inbox.folders import FOLDERS, can_archive, folder_filter, folder_of, in_folder
from inbox.models import Conversation, ConversationState
from inbox.settings_selectors import sync_status
from tests.factories import parsed, receive

pytestmark = pytest.mark.django_db

SHAPES = list(itertools.product(ConversationState.values, (True, False), (True, False)))


def _conversations(account) -> list[Conversation]:
    made = []
    for i, (state, incoming, outgoing) in enumerate(SHAPES):
        convo = Conversation.objects.get(pk=receive(account, parsed(subject=f"Shape {i}")).conversation_id)
        Conversation.objects.filter(pk=convo.pk).update(
            state=state, has_incoming=incoming, has_outgoing=outgoing
        )
        convo.refresh_from_db()
        made.append(convo)
    return made


def test_folder_filter_and_in_folder_agree_on_every_shape(alice_mailbox):
    made = _conversations(alice_mailbox)
    for folder in FOLDERS:
        by_query = set(Conversation.objects.filter(folder_filter(folder)).values_list("id", flat=True))
        by_predicate = {c.pk for c in made if in_folder(c, folder)}
        assert by_query == by_predicate, folder


def test_folder_filter_has_the_inbox_as_received_and_not_archived(alice_mailbox):
    made = _conversations(alice_mailbox)
    inbox = {c.pk for c in made if in_folder(c, "inbox")}
    assert inbox == {c.pk for c in made if c.state == ConversationState.INBOX and c.has_incoming}


def test_folder_of_is_one_of_the_folders_that_hold_the_conversation(alice_mailbox):
    for convo in _conversations(alice_mailbox):
        if convo.has_incoming or convo.has_outgoing or convo.state == ConversationState.ARCHIVED:
            assert in_folder(convo, folder_of(convo))


def test_can_archive_anything_not_archived_yet_sent_only_threads_too(alice_mailbox):
    for convo in _conversations(alice_mailbox):
        assert can_archive(convo) == (convo.state != ConversationState.ARCHIVED)


def test_archive_service_enforces_can_archive(alice, alice_mailbox):
    sent_only = receive(
        alice_mailbox, parsed(incoming=False, sender=alice_mailbox.address, to=("c@client.test",))
    ).conversation_id
    first = services.archive_conversations(alice, [sent_only])
    again = services.archive_conversations(alice, [sent_only])
    assert first.conversation_ids == [sent_only] and again.conversation_ids == []


def test_sync_status_counts_the_inbox_as_the_inbox_folder_does(alice, alice_mailbox):
    receive(alice_mailbox, parsed(subject="Received"))
    receive(alice_mailbox, parsed(incoming=False, sender=alice_mailbox.address, to=("c@client.test",)))
    status = sync_status(alice_mailbox)
    assert status.conversations == 2 and status.inbox == 1 and status.archived == 0
