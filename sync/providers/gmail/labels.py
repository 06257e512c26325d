"""Which Gmail labels mean what for the sync: the one place that decides what is mail.

Gmail keeps drafts (DRAFT), Hangouts/Chat history (CHAT) and spam (SPAM) in the same message
store as mail; none of them is a sales conversation, so none is imported. Category labels
(CATEGORY_PROMOTIONS, …) are tabs of the Inbox, not places: adding or removing one moves
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

SYNCED_LABELS = ("INBOX", "SENT")
NOT_MAIL = frozenset({"DRAFT", "CHAT", "SPAM"})
TRASH = "TRASH"


def is_mail(labels: Iterable[str]) -> bool:
    """False for drafts, chats and spam (whatever other labels they carry)."""
    return not (set(labels) & NOT_MAIL)


def is_synced(labels: Iterable[str], seen_with: Iterable[str] = ()) -> bool:
    """A message the app imports: mail, not in Trash, in the Inbox or Sent (now, or when a
    listing / history record showed it)."""
    labels = set(labels)
    return is_mail(labels) and TRASH not in labels and bool((labels | set(seen_with)) & set(SYNCED_LABELS))


def folder_for(labels: Iterable[str], seen_with: Iterable[str] = ()) -> str:
    """The app's folder for a message: INBOX for received mail, SENT for the user's own."""
    labels, seen_with = set(labels), set(seen_with)
    return "INBOX" if "INBOX" in labels or ("INBOX" in seen_with and "SENT" not in labels) else "SENT"


def moves_into_sync(added: Iterable[str]) -> bool:
    """A labelsAdded record that can bring in a message we may not have (moved into the
    Inbox, out of Spam into the Inbox). Category labels never do."""
    return bool(set(added) & set(SYNCED_LABELS))
