"""Permission-checked reads for Personal settings › Email sync (pages, CLI, admin).

Who sees a mailbox's settings and status: the owner of a personal mailbox; the members of a
team mailbox; and, for team mailboxes, every admin of that company (they pick its members,
so they must be able to open it even when they are not a member). Anything else is
``NotFound``, the same answer as "does not exist".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from accounts.models import User
from inbox.errors import NotFound
from inbox.folders import folder_filter
from inbox.models import (
    AccountKind,
    AccountStatus,
    ChangeStatus,
    Conversation,
    MailAccount,
    Message,
    ProviderChange,
)
from inbox.selectors import accessible_accounts

RECENT_CHANGES = 25
# The two switches, worded exactly as the product article has them.
ARCHIVE_LABEL = "Archive the message in my external email client when it is archived in Sales Inbox"
DELETE_LABEL = "Delete the message from my external email client when it is deleted in Sales Inbox"
# A team mailbox's switches act on the shared mailbox, for everyone, not on "my" client.
TEAM_ARCHIVE_LABEL = "Archive the message in the team mailbox when it is archived in Sales Inbox"
TEAM_DELETE_LABEL = "Delete the message from the team mailbox when it is deleted in Sales Inbox"


def settings_accounts(user: User) -> QuerySet[MailAccount]:
    """Mailboxes whose settings page the user may open."""
    if not user.is_authenticated or user.company_id is None:
        return MailAccount.objects.none()
    visible = Q(id__in=accessible_accounts(user).values("id"))
    if user.is_company_admin:
        visible |= Q(company_id=user.company_id, kind=AccountKind.TEAM)
    return MailAccount.objects.filter(visible)


def get_settings_account(user: User, account_id: int) -> MailAccount:
    account = (
        settings_accounts(user)
        .select_related("company", "owner")
        .prefetch_related("members")
        .filter(pk=account_id)
        .first()
    )
    if account is None:
        raise NotFound("No such mailbox.")
    return account


def can_manage(user: User, account: MailAccount) -> bool:
    """Pick members and reconnect: the owner, or the company's admins for team mailboxes."""
    if account.is_team:
        return user.is_company_admin and account.company_id == user.company_id
    return account.owner_id == user.pk


def can_change(user: User, account: MailAccount) -> bool:
    """Switches, resume, disconnect — as the mailbox services allow them: the owner, or for
    a team mailbox any company admin."""
    return can_manage(user, account)


def own_mailboxes(user: User) -> list[MailAccount]:
    """The user's personal mailboxes and the team mailboxes they are a member of."""
    return list(accessible_accounts(user).select_related("owner").order_by("kind", "address"))


def other_team_mailboxes(user: User) -> list[MailAccount]:
    """For admins: the company's team mailboxes they are not a member of (to manage them)."""
    company_id = user.company_id
    if not user.is_company_admin or company_id is None:
        return []
    mine = accessible_accounts(user).values("id")
    return list(
        MailAccount.objects.filter(company_id=company_id, kind=AccountKind.TEAM)
        .exclude(id__in=mine)
        .order_by("address")
    )


def team_mailboxes(user: User) -> list[MailAccount]:
    """Team mailboxes whose Account page the user may open (for the settings navigation)."""
    return list(settings_accounts(user).filter(kind=AccountKind.TEAM).order_by("name", "address"))


def company_users(user: User) -> list[User]:
    company_id = user.company_id
    if company_id is None:
        return []
    return list(User.objects.filter(company_id=company_id, is_active=True).order_by("email"))


@dataclass(frozen=True)
class SyncStatus:
    """What the status page shows about one mailbox."""

    account: MailAccount
    state: str  # active | initial | needs_reauth | paused | error | disconnected | demo
    progress_done: int
    progress_total: int
    last_sync_at: datetime | None
    error: str
    conversations: int
    inbox: int
    archived: int
    messages: int
    changes_pending: int
    changes_failed: int
    changes_done: int

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_done / self.progress_total))


def sync_status(account: MailAccount) -> SyncStatus:
    """The mailbox's state for people allowed to see it (checked by the caller)."""
    error = ""
    if not account.is_connected:
        state = "demo"
    elif account.status == AccountStatus.DISCONNECTED:
        state = "disconnected"
    elif account.status == AccountStatus.NEEDS_REAUTH:
        state, error = "needs_reauth", account.status_reason
    elif account.status == AccountStatus.PAUSED:
        state, error = "paused", account.status_reason
    elif account.status == AccountStatus.ERROR:
        state, error = "error", account.status_reason or account.last_sync_error
    elif account.initial_sync_finished_at is None and (
        account.last_sync_at is None or account.initial_sync_total > 0
    ):
        # Not every adapter reports progress: one that never did is "done" after its first sync.
        state = "initial"
    else:
        state = "active"
        error = account.last_sync_error
    conversations = Conversation.objects.filter(account_id=account.pk).aggregate(
        total=Count("id"),
        inbox=Count("id", filter=folder_filter("inbox")),
        archived=Count("id", filter=folder_filter("archive")),
    )
    changes = ProviderChange.objects.filter(account_id=account.pk).aggregate(
        pending=Count("id", filter=Q(status__in=[ChangeStatus.PENDING, ChangeStatus.RUNNING])),
        failed=Count("id", filter=Q(status=ChangeStatus.FAILED)),
        done=Count("id", filter=Q(status=ChangeStatus.DONE)),
    )
    return SyncStatus(
        account=account,
        state=state,
        progress_done=account.initial_sync_done,
        progress_total=account.initial_sync_total,
        last_sync_at=account.last_sync_at,
        error=error,
        conversations=conversations["total"],
        inbox=conversations["inbox"],
        archived=conversations["archived"],
        messages=Message.objects.filter(account_id=account.pk).count(),
        changes_pending=changes["pending"],
        changes_failed=changes["failed"],
        changes_done=changes["done"],
    )


@dataclass(frozen=True)
class ChangeRow:
    change: ProviderChange
    result: str  # done | failed | retrying | waiting | running
    why: str


def recent_changes(account: MailAccount, *, limit: int = RECENT_CHANGES) -> list[ChangeRow]:
    """The mailbox's latest provider changes with a plain result and its reason."""
    rows = []
    for change in (
        ProviderChange.objects.filter(account_id=account.pk).select_related("actor").order_by("-id")[:limit]
    ):
        if change.status == ChangeStatus.DONE:
            result = "done"
        elif change.status == ChangeStatus.FAILED:
            result = "failed"
        elif change.status == ChangeStatus.RUNNING:
            result = "running"
        elif change.attempts > 0 or change.last_error:
            result = "retrying"
        else:
            result = "waiting"
        rows.append(ChangeRow(change, result, change.last_error))
    return rows
