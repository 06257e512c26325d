"""Archive, unarchive, delete and read state — the only code that changes a conversation's
folder, existence or read flag (links and sharing: inbox/services/links.py).

Archive, unarchive and delete check permission, change the app, write the audit record and
(when the applicable switch is on) the outbox rows, all in one transaction; the worker is
nudged after commit. Read state is the app's only and is not audited.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from crm.models import Deal, Lead, Project
from inbox.errors import NotFound
from inbox.folders import can_archive
from inbox.models import (
    AuditAction,
    AuditEvent,
    ChangeKind,
    Conversation,
    ConversationState,
    Direction,
    MailAccount,
    Message,
    ProviderChange,
    ProviderRef,
    Tombstone,
)
from inbox.selectors import actionable_conversations, sync_switches
from inbox.services.outbox import enqueue_change, ref_snapshots


@dataclass
class ActionResult:
    audit: AuditEvent | None
    conversation_ids: list[int]
    changes: list[ProviderChange] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.conversation_ids)


def _lock_conversations(actor: User, ids: Iterable[int]) -> list[Conversation]:
    wanted = {int(i) for i in ids}
    if not wanted:
        return []
    rows = list(
        actionable_conversations(actor)
        .filter(pk__in=wanted)
        .only("id", "account_id", "state", "has_incoming", "has_outgoing", "subject", "message_count")
        .select_for_update(of=("self",))
        .order_by("id")
    )
    if len(rows) != len(wanted):
        # One unknown id fails the whole call: acting on "some of what you asked" surprises.
        raise NotFound("One or more conversations do not exist or are not yours.")
    _attach_accounts(rows)
    return rows


def _attach_accounts(items: list[Conversation] | list[Message]) -> None:
    """One query for the few mailboxes involved, instead of a join repeated on every row."""
    accounts = MailAccount.objects.select_related("company").in_bulk({item.account_id for item in items})
    for item in items:
        item.account = accounts[item.account_id]


def _by_account(conversations: Iterable[Conversation]) -> dict[MailAccount, list[Conversation]]:
    grouped: dict[MailAccount, list[Conversation]] = defaultdict(list)
    for conversation in conversations:
        grouped[conversation.account].append(conversation)
    return grouped


def _subjects(conversations: list[Conversation], limit: int = 10) -> list[str]:
    return [c.subject or "(no subject)" for c in conversations[:limit]]


def _set_state(
    actor: User, ids: Iterable[int], *, target: ConversationState, action: AuditAction, kind: ChangeKind
) -> ActionResult:
    with transaction.atomic():
        locked = _lock_conversations(actor, ids)
        if target == ConversationState.ARCHIVED:
            conversations = [c for c in locked if can_archive(c)]
        else:
            conversations = [c for c in locked if c.state != target]
        if not conversations:
            return ActionResult(None, [])
        now = timezone.now()
        Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(
            state=target, archived_at=now if target == ConversationState.ARCHIVED else None, updated_at=now
        )
        grouped = _by_account(conversations)
        n = len(conversations)
        noun = "conversation" if n == 1 else "conversations"
        audit = AuditEvent.objects.create(
            company_id=actor.company_pk,
            actor=actor,
            account=next(iter(grouped)) if len(grouped) == 1 else None,
            action=action,
            conversation_ids=[c.pk for c in conversations],
            message_count=sum(c.message_count for c in conversations),
            summary=f"{action.label} {n} {noun}",
            details={"subjects": _subjects(conversations)},
        )
        changes = []
        for account, items in grouped.items():
            archive_on, _ = sync_switches(account)
            if not archive_on:
                continue
            refs = ref_snapshots(account.pk, {"message__conversation_id__in": [c.pk for c in items]})
            change = enqueue_change(account, kind, refs, actor=actor, audit=audit)
            if change is not None:
                changes.append(change)
    return ActionResult(audit, [c.pk for c in conversations], changes)


def archive_conversations(actor: User, ids: Iterable[int]) -> ActionResult:
    """Leave the Inbox for the Archive folder; links and History stay."""
    return _set_state(
        actor, ids, target=ConversationState.ARCHIVED, action=AuditAction.ARCHIVE, kind=ChangeKind.ARCHIVE
    )


def unarchive_conversations(actor: User, ids: Iterable[int]) -> ActionResult:
    """Back to the Inbox (and to the external Inbox when the archive switch is on)."""
    return _set_state(
        actor, ids, target=ConversationState.INBOX, action=AuditAction.UNARCHIVE, kind=ChangeKind.UNARCHIVE
    )


def mark_read(actor: User, ids: Iterable[int], *, read: bool = True) -> int:
    """Mark the actor's conversations read or unread — in the app and, through the outbox, in
    each mailbox (IMAP ``\\Seen``, Gmail's UNREAD label, Graph ``isRead``): one change per
    mailbox, no switch (it destroys nothing). One id that is not theirs (another mailbox's,
    another company's, or none) fails the whole call with NotFound, as every other action
    does. Returns how many were asked for."""
    wanted = {int(i) for i in ids}
    with transaction.atomic():
        mine = _lock_for_read_state(actionable_conversations(actor).filter(pk__in=wanted))
        if len(mine) != len(wanted):
            raise NotFound("One or more conversations do not exist or are not yours.")
        _set_read(actor, mine, read)
    return len(wanted)


def read_on_open(actor: User, conversation: Conversation) -> bool:
    """Opening a conversation reads it, as in every mail client (and in the mailbox, as
    ``mark_read`` does) — when it is the actor's own (a conversation shared read-only in
    the company stays as its owners left it). Already read: no query at all. Returns
    whether it was marked read now."""
    if conversation.is_read:
        return False
    with transaction.atomic():
        mine = _lock_for_read_state(actionable_conversations(actor).filter(pk=conversation.pk, is_read=False))
        if not mine:
            return False
        _set_read(actor, mine, True)
    conversation.is_read = True
    return True


def _lock_for_read_state(conversations: QuerySet[Conversation]) -> list[Conversation]:
    return list(
        conversations.select_related("account__company").select_for_update(of=("self",)).order_by("id")
    )


def _set_read(actor: User, conversations: list[Conversation], read: bool) -> None:
    changing = [c for c in conversations if c.is_read != read]
    if not changing:
        return
    Conversation.objects.filter(pk__in=[c.pk for c in changing]).update(
        is_read=read, updated_at=timezone.now()
    )
    kind = ChangeKind.READ if read else ChangeKind.UNREAD
    for account, items in _by_account(changing).items():
        # Reading a conversation reads what came in; our own sent mail is read already.
        where = {"message__conversation_id__in": [c.pk for c in items]}
        refs = ref_snapshots(account.pk, {**where, "message__direction": Direction.INCOMING})
        enqueue_change(account, kind, refs, actor=actor, audit=None)


@dataclass(frozen=True)
class DeletePreview:
    """What a delete will do, for the confirmation dialog (decision 5)."""

    conversation_count: int
    message_count: int
    deal_titles: list[str]
    lead_titles: list[str]
    project_titles: list[str]
    trash_by_provider: dict[str, int]
    # Shared team mailboxes among them: deleting there deletes for every member.
    team_mailboxes: list[str] = field(default_factory=list)


def preview_delete(actor: User, ids: Iterable[int]) -> DeletePreview:
    wanted = {int(i) for i in ids}
    conversations = list(
        actionable_conversations(actor).filter(pk__in=wanted).only("id", "account_id", "message_count")
    )
    if len(conversations) != len(wanted):
        raise NotFound("One or more conversations do not exist or are not yours.")
    _attach_accounts(conversations)
    trash: dict[str, int] = defaultdict(int)
    teams: list[str] = []
    for account, items in _by_account(conversations).items():
        if account.is_team:
            teams.append(str(account))
        _, delete_on = sync_switches(account)
        if delete_on and account.syncs_with_provider:
            count = ProviderRef.objects.filter(
                account_id=account.pk, message__conversation_id__in=[c.pk for c in items]
            ).count()
            if count:
                trash[account.get_provider_display()] += count
    titles = _linked_titles([c.pk for c in conversations])
    return DeletePreview(
        conversation_count=len(conversations),
        message_count=sum(c.message_count for c in conversations),
        deal_titles=titles["deals"],
        lead_titles=titles["leads"],
        project_titles=titles["projects"],
        trash_by_provider=dict(trash),
        team_mailboxes=sorted(teams),
    )


def write_tombstones(account_id: int, message_pks: list[int]) -> None:
    """Block re-import of these messages by provider key and by Message-ID (decision 2)."""
    stones = [
        Tombstone(account_id=account_id, provider_key=key, message_id=mid)
        for key, mid in ProviderRef.objects.filter(message_id__in=message_pks).values_list(
            "key", "message__message_id"
        )
    ]
    without_refs = (
        Message.objects.filter(pk__in=message_pks, refs__isnull=True)
        .exclude(message_id="")
        .values_list("message_id", flat=True)
    )
    stones += [Tombstone(account_id=account_id, message_id=mid) for mid in without_refs]
    Tombstone.objects.bulk_create(stones, batch_size=1000)


def refresh_conversations(conversation_ids: Iterable[int]) -> list[int]:
    """Recompute summaries after messages left; delete conversations left empty.

    Returns the ids of the conversations that went with their last message.
    """
    ids = list(conversation_ids)
    stats = {
        row["conversation_id"]: row
        for row in Message.objects.filter(conversation_id__in=ids)
        .values("conversation_id")
        .annotate(
            n=Count("id"),
            first=Min("sent_at"),
            last=Max("sent_at"),
            incoming=Count("id", filter=Q(direction=Direction.INCOMING)),
            outgoing_n=Count("id", filter=Q(direction=Direction.OUTGOING)),
        )
    }
    empty = [cid for cid in ids if cid not in stats]
    for cid, row in stats.items():
        Conversation.objects.filter(pk=cid).update(
            message_count=row["n"],
            first_message_at=row["first"],
            last_message_at=row["last"],
            has_incoming=row["incoming"] > 0,
            has_outgoing=row["outgoing_n"] > 0,
        )
    if empty:
        Conversation.objects.filter(pk__in=empty).delete()
    return empty


def _linked_titles(conversation_ids: list[int]) -> dict[str, list[str]]:
    """The deals, leads and projects a set of conversations is linked to (three queries)."""
    return {
        "deals": sorted(
            set(Deal.objects.filter(conversations__in=conversation_ids).values_list("title", flat=True))
        ),
        "leads": sorted(
            set(Lead.objects.filter(conversations__in=conversation_ids).values_list("title", flat=True))
        ),
        "projects": sorted(
            set(Project.objects.filter(conversations__in=conversation_ids).values_list("title", flat=True))
        ),
    }


def _link_details(conversations: list[Conversation]) -> dict[str, object]:
    return {"subjects": _subjects(conversations), **_linked_titles([c.pk for c in conversations])}


def delete_conversations(actor: User, ids: Iterable[int]) -> ActionResult:
    """Remove conversations completely: messages, links, History. Cannot be undone.

    Provider references are snapshotted into the outbox first (when the delete switch is
    on) and tombstones keep any later sync from bringing the messages back.
    """
    with transaction.atomic():
        conversations = _lock_conversations(actor, ids)
        if not conversations:
            return ActionResult(None, [])
        grouped = _by_account(conversations)
        n = len(conversations)
        audit = AuditEvent.objects.create(
            company_id=actor.company_pk,
            actor=actor,
            account=next(iter(grouped)) if len(grouped) == 1 else None,
            action=AuditAction.DELETE,
            conversation_ids=[c.pk for c in conversations],
            message_count=sum(c.message_count for c in conversations),
            summary=f"Deleted {n} conversation{'s' if n != 1 else ''}",
            details=_link_details(conversations),
        )
        changes = []
        for account, items in grouped.items():
            message_pks = list(
                Message.objects.filter(conversation_id__in=[c.pk for c in items]).values_list("pk", flat=True)
            )
            change = _trash_if_switched_on(actor, account, message_pks, audit)
            if change is not None:
                changes.append(change)
            write_tombstones(account.pk, message_pks)
        Conversation.objects.filter(pk__in=[c.pk for c in conversations]).delete()
    return ActionResult(audit, [c.pk for c in conversations], changes)


def _trash_if_switched_on(
    actor: User | None, account: MailAccount, message_pks: list[int], audit: AuditEvent
) -> ProviderChange | None:
    _, delete_on = sync_switches(account)
    if not delete_on:
        return None
    refs = ref_snapshots(account.pk, {"message_id__in": message_pks})
    return enqueue_change(account, ChangeKind.TRASH, refs, actor=actor, audit=audit)


def delete_messages(actor: User, message_ids: Iterable[int]) -> ActionResult:
    """ "Delete this email" from a detail view's History: one email, not its whole thread.

    The conversation goes too when this was its last message.
    """
    wanted = {int(i) for i in message_ids}
    with transaction.atomic():
        messages = list(
            Message.objects.filter(
                pk__in=wanted, conversation_id__in=actionable_conversations(actor).values("id")
            )
            .only("id", "account_id", "conversation_id", "subject")
            .select_for_update(of=("self",))
        )
        if len(messages) != len(wanted):
            raise NotFound("One or more emails do not exist or are not yours.")
        if not messages:
            return ActionResult(None, [])
        _attach_accounts(messages)
        by_account: dict[MailAccount, list[Message]] = defaultdict(list)
        for message in messages:
            by_account[message.account].append(message)
        conversation_ids = sorted({m.conversation_id for m in messages})
        audit = AuditEvent.objects.create(
            company_id=actor.company_pk,
            actor=actor,
            account=next(iter(by_account)) if len(by_account) == 1 else None,
            action=AuditAction.DELETE_MESSAGE,
            conversation_ids=conversation_ids,
            message_count=len(messages),
            summary=f"Deleted {len(messages)} email{'s' if len(messages) != 1 else ''}",
            details={"subjects": [m.subject or "(no subject)" for m in messages[:10]]},
        )
        changes = []
        for account, items in by_account.items():
            pks = [m.pk for m in items]
            change = _trash_if_switched_on(actor, account, pks, audit)
            if change is not None:
                changes.append(change)
            write_tombstones(account.pk, pks)
        Message.objects.filter(pk__in=[m.pk for m in messages]).delete()
        refresh_conversations(conversation_ids)
    return ActionResult(audit, conversation_ids, changes)
