"""Skip what is not mail: drafts (DRAFT), chats (CHAT) and spam (SPAM) are never imported —
not on the first sync, not from history records — and a category tab changing
(CATEGORY_*) is not a move: it fetches nothing and changes nothing."""

from __future__ import annotations

import pytest

from inbox.models import Conversation, ConversationState
from tests.gmail.helpers import conversation_of, pull

pytestmark = pytest.mark.django_db

NOT_MAIL = [("DRAFT",), ("CHAT",), ("SPAM",), ("INBOX", "DRAFT"), ("INBOX", "SPAM"), ("SENT", "DRAFT")]


def deliver(setup, mail, labels, subject) -> str:  # type: ignore[no-untyped-def]
    raw, _ = mail.make(to=setup.account.address, subject=subject)
    return setup.mailbox.deliver(raw, labels=labels)


def test_drafts_chats_and_spam_are_not_imported_on_the_first_sync(gmail, setup, mail):
    skipped = [deliver(setup, mail, labels, f"Not mail {'+'.join(labels)}") for labels in NOT_MAIL]
    mail_id = deliver(setup, mail, ("INBOX", "CATEGORY_PROMOTIONS"), "A promotion is still mail")

    report = pull(setup)

    assert report.created == 1
    assert conversation_of(setup.account, mail_id) is not None
    assert all(conversation_of(setup.account, g) is None for g in skipped)
    for gmail_id in skipped:  # at most their labels were looked at, never their content
        assert gmail.gets_of(gmail_id, fmt="raw") == []


def test_drafts_chats_and_spam_in_history_are_never_fetched(gmail, setup, mail):
    deliver(setup, mail, ("INBOX",), "Known")
    pull(setup)
    skipped = [deliver(setup, mail, labels, f"Later {'+'.join(labels)}") for labels in NOT_MAIL]
    gmail.calls.clear()

    report = pull(setup)

    assert report.created == 0
    assert gmail.count("messages.get") == 0  # the history record's labels were enough
    assert all(conversation_of(setup.account, g) is None for g in skipped)


def test_category_label_changes_are_not_moves(gmail, setup, mail):
    known_id = deliver(setup, mail, ("INBOX",), "Known")
    pull(setup)
    conversation = conversation_of(setup.account, known_id)
    Conversation.objects.filter(pk=conversation.pk).update(state=ConversationState.ARCHIVED)
    archived_elsewhere = deliver(setup, mail, ("Label_7",), "Filtered past the Inbox")
    pull(setup)
    gmail.calls.clear()

    setup.mailbox.add_labels(known_id, "CATEGORY_PROMOTIONS")
    setup.mailbox.remove_labels(known_id, "CATEGORY_PROMOTIONS")
    setup.mailbox.add_labels(known_id, "CATEGORY_UPDATES")
    setup.mailbox.add_labels(archived_elsewhere, "CATEGORY_SOCIAL")
    report = pull(setup)

    assert (report.created, report.deleted) == (0, 0)
    assert gmail.count("messages.get") == 0
    assert conversation_of(setup.account, archived_elsewhere) is None
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ARCHIVED  # not brought back to the Inbox


def test_mail_moved_out_of_spam_into_the_inbox_is_imported(gmail, setup, mail):
    spam_id = deliver(setup, mail, ("SPAM",), "Not spam after all")
    pull(setup)
    assert conversation_of(setup.account, spam_id) is None

    setup.mailbox.modify(spam_id, add=["INBOX"], remove=["SPAM"])

    assert pull(setup).created == 1
    assert conversation_of(setup.account, spam_id) is not None
