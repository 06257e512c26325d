"""The sentences a confirmation dialog shows, worded from what a service or selector found.

The domain says *what* a delete will do (``DeletePreview``, ``MessageDeletePreview``); how that
reads to a rep is the front's business, so the wording lives here and nowhere else.
"""

from __future__ import annotations

from inbox.selectors import MessageDeletePreview
from inbox.services.actions import DeletePreview


def delete_sentence(preview: DeletePreview) -> str:
    n, m = preview.conversation_count, preview.message_count
    parts = [f"Delete {_plural(n, 'conversation')} ({_plural(m, 'message')}) for good"]
    if preview.team_mailboxes:
        noun = "team mailboxes" if len(preview.team_mailboxes) > 1 else "team mailbox"
        parts.append(f"for every member of the {noun} {', '.join(preview.team_mailboxes)}")
    links = [
        _named(noun, titles)
        for noun, titles in (
            ("deal", preview.deal_titles),
            ("lead", preview.lead_titles),
            ("project", preview.project_titles),
        )
        if titles
    ]
    if links:
        parts.append("and remove the links to " + "; ".join(links))
    for provider, count in sorted(preview.trash_by_provider.items()):
        parts.append(f"and move {_plural(count, 'message')} to Trash in {provider}")
    return " ".join(parts) + ". This cannot be undone."


def message_delete_sentence(preview: MessageDeletePreview) -> str:
    message = preview.message
    who = message.from_name or message.from_address or "unknown sender"
    parts = [f"Delete the email “{message.subject or '(no subject)'}” from {who} for good"]
    account = message.conversation.account
    if account.is_team:
        parts.append(f" for every member of the team mailbox {account}")
    if preview.linked:
        parts.append("; it disappears from the History of " + ", ".join(preview.linked))
    if preview.last_in_conversation:
        parts.append("; it is the only email in its conversation, so the conversation goes too")
    if preview.trash_in:
        parts.append(f", and it is moved to Trash in {preview.trash_in}")
    return "".join(parts) + ". This cannot be undone."


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _named(noun: str, titles: list[str], most: int = 3) -> str:
    shown = ", ".join(titles[:most])
    more = f" and {len(titles) - most} more" if len(titles) > most else ""
    return f"{noun}{'s' if len(titles) > 1 else ''} {shown}{more}"
