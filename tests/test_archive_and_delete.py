"""The app-side rules of ARCHITECTURE.md §1: archive, unarchive, delete."""

from __future__ import annotations

import pytest

from inbox import selectors, services
from inbox.errors import NotFound
from inbox.models import (
    AuditAction,
    AuditEvent,
    Conversation,
    ConversationState,
    Message,
    Participant,
    ProviderRef,
    Tombstone,
)
from inbox.types import IngestOutcome
from tests.factories import (
    DealFactory,
    LeadFactory,
    ProjectFactory,
    add_person,
    parsed,
    receive,
)
from web.wording import delete_sentence

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked(alice, alice_mailbox, acme):  # type: ignore[no-untyped-def]
    """A conversation from a known person, linked to a deal and a project."""
    add_person(acme, "Dana Customer", "dana@client.test")
    result = receive(alice_mailbox, sender="dana@client.test", subject="Renewal")
    deal = DealFactory(company=acme, title="Acme renewal")
    project = ProjectFactory(company=acme, title="Q4 renewals")
    services.link_deal(alice, result.conversation_id, deal.pk)
    services.link_project(alice, result.conversation_id, project.pk)
    return Conversation.objects.get(pk=result.conversation_id), deal, project


def test_archive_moves_conversation_from_inbox_to_archive_folder(alice, linked):
    conversation, _, _ = linked
    services.archive_conversations(alice, [conversation.pk])
    assert [c.pk for c in selectors.folder_page(alice, "inbox").conversations] == []
    assert [c.pk for c in selectors.folder_page(alice, "archive").conversations] == [conversation.pk]


def test_archive_keeps_deal_project_and_person_links(alice, linked):
    conversation, deal, project = linked
    services.archive_conversations(alice, [conversation.pk])
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ARCHIVED
    assert conversation.deal_id == deal.pk
    assert list(conversation.projects.values_list("pk", flat=True)) == [project.pk]
    assert Participant.objects.filter(conversation=conversation, person__name="Dana Customer").exists()


def test_archived_email_still_shows_in_detail_view_history(alice, linked):
    conversation, deal, project = linked
    person = Participant.objects.get(conversation=conversation, person__isnull=False).person
    services.archive_conversations(alice, [conversation.pk])
    for kind, pk in [
        ("deal", deal.pk),
        ("project", project.pk),
        ("person", person.pk),
        ("organization", None),
    ]:
        if pk is None:
            continue
        emails = selectors.history_emails(alice, kind, pk)
        assert [m.conversation_id for m in emails] == [conversation.pk], kind


def test_unarchive_returns_conversation_to_inbox(alice, linked):
    conversation, deal, _ = linked
    services.archive_conversations(alice, [conversation.pk])
    services.unarchive_conversations(alice, [conversation.pk])
    assert [c.pk for c in selectors.folder_page(alice, "inbox").conversations] == [conversation.pk]
    assert selectors.folder_page(alice, "archive").conversations == []
    conversation.refresh_from_db()
    assert conversation.deal_id == deal.pk


def test_archive_of_already_archived_conversation_changes_nothing(alice, linked):
    conversation, _, _ = linked
    services.archive_conversations(alice, [conversation.pk])
    again = services.archive_conversations(alice, [conversation.pk])
    assert again.count == 0
    assert AuditEvent.objects.filter(action=AuditAction.ARCHIVE).count() == 1


def test_delete_removes_conversation_messages_and_links_completely(alice, linked):
    conversation, deal, project = linked
    message_pks = list(conversation.messages.values_list("pk", flat=True))
    services.delete_conversations(alice, [conversation.pk])
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(pk__in=message_pks).exists()
    assert not ProviderRef.objects.filter(message_id__in=message_pks).exists()
    assert not Participant.objects.filter(conversation_id=conversation.pk).exists()
    assert not Conversation.projects.through.objects.filter(conversation_id=conversation.pk).exists()
    assert deal.conversations.count() == 0 and project.conversations.count() == 0


def test_deleted_email_disappears_from_every_detail_view(alice, linked):
    conversation, deal, project = linked
    person = Participant.objects.get(conversation=conversation, person__isnull=False).person
    services.delete_conversations(alice, [conversation.pk])
    assert selectors.history_emails(alice, "deal", deal.pk) == []
    assert selectors.history_emails(alice, "project", project.pk) == []
    assert selectors.history_emails(alice, "person", person.pk) == []


def test_delete_cannot_be_undone(alice, linked):
    conversation, _, _ = linked
    services.delete_conversations(alice, [conversation.pk])
    with pytest.raises(NotFound):
        services.unarchive_conversations(alice, [conversation.pk])
    with pytest.raises(NotFound):
        selectors.get_conversation(alice, conversation.pk)


def test_deleted_message_is_never_reimported_even_with_delete_switch_off(alice, alice_mailbox):
    message = parsed(to=(alice_mailbox.address,), subject="Spam offer")
    first = receive(alice_mailbox, message, folder="INBOX")
    key = ProviderRef.objects.get(message_id=first.message_id).key
    services.delete_conversations(alice, [first.conversation_id])
    assert Tombstone.objects.filter(account=alice_mailbox, provider_key=key).exists()
    # the next sync sees the same message still sitting in the external Inbox (same key)…
    from inbox.types import RefData

    again = services.ingest_message(alice_mailbox, message, RefData(key=key, folder="INBOX"))
    assert again.outcome == IngestOutcome.TOMBSTONED
    # …and under a new key after a UIDVALIDITY change: the Message-ID still blocks it.
    moved = receive(alice_mailbox, message, folder="INBOX")
    assert moved.outcome == IngestOutcome.TOMBSTONED
    assert Conversation.objects.filter(account=alice_mailbox).count() == 0


def test_delete_single_email_from_history_keeps_rest_of_thread(alice, alice_mailbox, acme):
    deal = DealFactory(company=acme)
    first = receive(alice_mailbox, subject="Quote", message_id="<q1@client.test>")
    second = receive(
        alice_mailbox,
        parsed(
            subject="Re: Quote",
            to=(alice_mailbox.address,),
            in_reply_to="<q1@client.test>",
            message_id="<q2@client.test>",
        ),
    )
    assert first.conversation_id == second.conversation_id
    services.link_deal(alice, first.conversation_id, deal.pk)
    services.delete_messages(alice, [second.message_id])
    emails = selectors.history_emails(alice, "deal", deal.pk)
    assert [m.pk for m in emails] == [first.message_id]
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.message_count == 1
    assert Tombstone.objects.filter(message_id="<q2@client.test>").exists()


def test_deleting_last_email_of_a_thread_removes_the_conversation(alice, alice_mailbox):
    only = receive(alice_mailbox, subject="Lonely")
    services.delete_messages(alice, [only.message_id])
    assert not Conversation.objects.filter(pk=only.conversation_id).exists()


def test_every_action_is_audited_with_who_and_what(alice, linked):
    conversation, _, _ = linked
    services.archive_conversations(alice, [conversation.pk])
    services.unarchive_conversations(alice, [conversation.pk])
    services.delete_conversations(alice, [conversation.pk])
    events = list(
        AuditEvent.objects.filter(actor=alice).order_by("id").values_list("action", "conversation_ids")
    )
    actions = [a for a, _ in events if a in ("archive", "unarchive", "delete")]
    assert actions == ["archive", "unarchive", "delete"]
    delete_event = AuditEvent.objects.get(action=AuditAction.DELETE)
    assert delete_event.details["deals"] == ["Acme renewal"]
    assert delete_event.details["projects"] == ["Q4 renewals"]
    assert delete_event in selectors.recent_audit(alice)


def test_delete_preview_states_count_links_and_provider_trash(alice, alice_mailbox, acme):
    from tests.factories import switches

    lead = LeadFactory(company=acme, title="Inbound Dana")
    one = receive(alice_mailbox, subject="A")
    two = receive(alice_mailbox, subject="B")
    services.link_lead(alice, one.conversation_id, lead.pk)
    switches(alice, delete=True)
    preview = services.preview_delete(alice, [one.conversation_id, two.conversation_id])
    sentence = delete_sentence(preview)
    assert "Delete 2 conversations (2 messages)" in sentence
    assert "lead Inbound Dana" in sentence
    assert preview.lead_titles == ["Inbound Dana"]
    assert "move 2 messages to Trash in IMAP" in sentence
    switches(alice, delete=False)
    assert "Trash" not in delete_sentence(services.preview_delete(alice, [one.conversation_id]))
