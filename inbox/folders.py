"""What is in which folder — the one home of the Inbox / Sent / Archive rule.

- **Inbox**: not archived, and at least one message came in (a thread of only our own
  sent mail is not "received").
- **Sent**: at least one message went out, archived or not.
- **Archive**: archived.

``folder_filter`` (a database filter) and ``in_folder`` (the same test on a loaded
conversation) must agree; a test runs both over every combination. ``can_archive`` is
what the archive service enforces, for the browser and the API alike.
"""

from __future__ import annotations

from typing import Literal

from django.db.models import Q

from inbox.errors import InvalidRequest
from inbox.models import Conversation, ConversationState

Folder = Literal["inbox", "archive", "sent"]
FOLDERS: tuple[Folder, ...] = ("inbox", "sent", "archive")


def folder_filter(folder: str) -> Q:
    """The conversations of ``folder`` as a database filter."""
    if folder == "inbox":
        return Q(state=ConversationState.INBOX, has_incoming=True)
    if folder == "archive":
        return Q(state=ConversationState.ARCHIVED)
    if folder == "sent":
        return Q(has_outgoing=True)
    raise InvalidRequest(f"Unknown folder {folder!r}.")


def in_folder(conversation: Conversation, folder: str) -> bool:
    """Whether a loaded conversation belongs in ``folder`` (the same rule as folder_filter;
    any other folder name, such as search's "all", holds everything)."""
    if folder == "inbox":
        return conversation.state == ConversationState.INBOX and conversation.has_incoming
    if folder == "archive":
        return conversation.state == ConversationState.ARCHIVED
    if folder == "sent":
        return conversation.has_outgoing
    return True


def folder_of(conversation: Conversation) -> Folder:
    """The folder a conversation is shown from when opened on its own."""
    if conversation.state == ConversationState.ARCHIVED:
        return "archive"
    return "inbox" if conversation.has_incoming else "sent"


def can_archive(conversation: Conversation) -> bool:
    """Any conversation not archived yet may be archived — a sent-only one too.

    As in Pipedrive, where every thread can be archived: a rep clears a thread of their
    own sent mail out of the way (it stays in Sent, now also in Archive, and Unarchive
    brings it back); a reply brings it back to the Inbox (decision 3). Refusing it would
    make the browser and the API disagree, and protects nothing."""
    return conversation.state != ConversationState.ARCHIVED
