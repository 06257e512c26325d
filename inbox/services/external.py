"""Changes that come from the external mailbox (the pull side)."""

from __future__ import annotations

from django.db import transaction

from inbox.models import (
    AccountStatus,
    AuditAction,
    AuditEvent,
    Conversation,
    MailAccount,
    Message,
    ProviderRef,
)
from inbox.services.actions import refresh_conversations, write_tombstones
from inbox.services.mailboxes import set_account_status


@transaction.atomic
def apply_external_deletions(account: MailAccount, ref_keys: list[str], *, where: str) -> int:
    """Messages deleted in the external client are deleted in the app too.

    Only call this on positive evidence (moved to Trash, or gone from every folder):
    sync decides that; this removes the messages, tombstones them so a copy elsewhere is
    never re-imported, drops conversations left empty and records who did it.
    """
    message_pks = list(
        ProviderRef.objects.filter(account_id=account.pk, key__in=ref_keys)
        .values_list("message_id", flat=True)
        .distinct()
    )
    if not message_pks:
        return 0
    conversation_ids = sorted(
        set(Message.objects.filter(pk__in=message_pks).values_list("conversation_id", flat=True))
    )
    write_tombstones(account.pk, message_pks)
    Message.objects.filter(pk__in=message_pks).delete()
    refresh_conversations(conversation_ids)
    AuditEvent.objects.create(
        company_id=account.company_id,
        account=account,
        action=AuditAction.EXTERNAL_DELETE,
        conversation_ids=conversation_ids,
        message_count=len(message_pks),
        summary=f"{len(message_pks)} email{'s' if len(message_pks) != 1 else ''} deleted in {where}",
    )
    return len(message_pks)


def pause_for_mass_delete(account: MailAccount, would_delete: int, total: int) -> None:
    """The guard: too many deletions at once look like a broken mailbox, not a user."""
    set_account_status(
        account,
        AccountStatus.PAUSED,
        f"Sync paused: it would have deleted {would_delete} of {total} messages at once. "
        "Check the mailbox, then resume the sync.",
    )


@transaction.atomic
def apply_external_read_state(account: MailAccount, seen_by_key: dict[str, bool]) -> int:
    """Read or unread in the external mail client (another client's ``\\Seen``): the
    conversations follow — unread when any of those messages is unread, read otherwise.
    Nothing is pushed back (it came from the provider). Returns conversations changed."""
    if not seen_by_key:
        return 0
    rows = ProviderRef.objects.filter(account_id=account.pk, key__in=list(seen_by_key)).values_list(
        "key", "message__conversation_id", "message__direction"
    )
    unread: dict[int, bool] = {}
    for key, conversation_id, direction in rows:
        if direction != "in":
            continue  # our own sent mail says nothing about reading
        unread[conversation_id] = unread.get(conversation_id, False) or not seen_by_key[key]
    changed = 0
    for is_unread in (True, False):
        ids = [cid for cid, value in unread.items() if value is is_unread]
        if ids:
            changing = Conversation.objects.filter(pk__in=ids, is_read=is_unread)
            changed += changing.update(is_read=not is_unread)
    return changed
