"""Connecting, configuring and disconnecting mailboxes, and every write of a mailbox's
status — with the plan's rules (accounts.plans: the policy table).

Mailboxes a user may have connected count their personal ones plus the team ones they
belong to. Demo mailboxes are connected to nothing and do not count.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import plans
from accounts.models import User
from inbox.errors import InvalidRequest, NotAllowed, PlanLimitReached
from inbox.models import (
    AccountKind,
    AccountStatus,
    MailAccount,
    Provider,
    UserSyncSettings,
)
from inbox.selectors import accessible_accounts, get_account
from inbox.services.nudge import nudge_sync_after_commit


def connected_mailbox_count(user: User) -> int:
    return (
        accessible_accounts(user)
        .exclude(provider=Provider.DEMO)
        .exclude(status=AccountStatus.DISCONNECTED)
        .count()
    )


def check_can_connect(user: User, *, kind: str) -> None:
    """Raise PlanLimitReached unless the user may connect one more mailbox of this kind."""
    if not plans.has_email_sync(user.company):
        raise PlanLimitReached(plans.upgrade_notice())
    refusal = plans.connect_refusal(
        user.company, who=user.email, team=kind == AccountKind.TEAM, connected=connected_mailbox_count(user)
    )
    if refusal:
        raise PlanLimitReached(refusal)


@transaction.atomic
def connect_personal_mailbox(
    actor: User, *, provider: str, address: str, credentials: dict[str, object], config: dict[str, object]
) -> MailAccount:
    """The actor's own mailbox. Reconnecting an address they already had refreshes it."""
    if provider == Provider.DEMO:
        raise InvalidRequest("Demo mailboxes are created by seed_demo only.")
    if actor.company_id is None:
        raise PlanLimitReached(
            plans.upgrade_notice()
        )  # check_can_connect's answer: no company, no email sync
    existing = MailAccount.objects.filter(company_id=actor.company_id, address__iexact=address).first()
    if existing is not None:
        if existing.kind != AccountKind.PERSONAL or existing.owner_id != actor.pk:
            raise InvalidRequest(f"{address} is already connected in your company by someone else.")
        return _reconnect(existing, provider=provider, credentials=credentials, config=config)
    check_can_connect(actor, kind=AccountKind.PERSONAL)
    account = MailAccount.objects.create(
        company_id=actor.company_pk,
        kind=AccountKind.PERSONAL,
        owner=actor,
        provider=provider,
        address=address.lower(),
        name=address.lower(),
        credentials=credentials,
        config=config,
    )
    nudge_sync_after_commit(account.pk)
    return account


@transaction.atomic
def connect_team_mailbox(
    actor: User,
    *,
    provider: str,
    address: str,
    name: str,
    members: list[User],
    credentials: dict[str, object],
    config: dict[str, object],
) -> MailAccount:
    """A shared mailbox: only company admins create one, and pick its members."""
    if not actor.is_company_admin:
        raise NotAllowed("Only company admins can connect a shared team mailbox.")
    if any(m.company_id != actor.company_id for m in members):
        raise InvalidRequest("Team mailbox members must belong to your company.")
    existing = MailAccount.objects.filter(company_id=actor.company_pk, address__iexact=address).first()
    if existing is not None:
        if existing.kind != AccountKind.TEAM:
            raise InvalidRequest(f"{address} is already connected as a personal mailbox.")
        account = _reconnect(existing, provider=provider, credentials=credentials, config=config)
        account.members.set(members)
        return account
    check_can_connect(actor, kind=AccountKind.TEAM)
    account = MailAccount.objects.create(
        company_id=actor.company_pk,
        kind=AccountKind.TEAM,
        provider=provider,
        address=address.lower(),
        name=name or address.lower(),
        credentials=credentials,
        config=config,
    )
    account.members.set(members)
    nudge_sync_after_commit(account.pk)
    return account


def _reconnect(
    account: MailAccount, *, provider: str, credentials: dict[str, object], config: dict[str, object]
) -> MailAccount:
    account.provider = provider
    account.credentials = credentials
    account.config = {**account.config, **config}
    account.status = AccountStatus.ACTIVE
    account.status_reason = ""
    account.save()
    nudge_sync_after_commit(account.pk)
    return account


def _manageable(actor: User, account_id: int) -> MailAccount:
    """The owner manages a personal mailbox; company admins manage every team mailbox of
    their company, member or not (settings only: reading its mail still needs membership)."""
    if actor.is_company_admin:
        team = (
            MailAccount.objects.select_related("company")
            .filter(company_id=actor.company_pk, pk=account_id, kind=AccountKind.TEAM)
            .first()
        )
        if team is not None:
            return team
    account = get_account(actor, account_id)
    if account.is_team and not actor.is_company_admin:
        raise NotAllowed("Only company admins can change a shared team mailbox.")
    return account


@transaction.atomic
def set_team_members(actor: User, account_id: int, members: list[User]) -> MailAccount:
    if not actor.is_company_admin:
        raise NotAllowed("Only company admins can change who sees a team mailbox.")
    account = MailAccount.objects.filter(company_id=actor.company_pk, pk=account_id, kind="team").first()
    if account is None:
        from inbox.errors import NotFound

        raise NotFound("No such team mailbox.")
    if any(m.company_id != actor.company_id for m in members):
        raise InvalidRequest("Team mailbox members must belong to your company.")
    account.members.set(members)
    return account


@transaction.atomic
def set_personal_switches(actor: User, *, archive: bool, delete: bool) -> UserSyncSettings:
    """Personal settings › Email sync › General settings: applies to the actor's own mailboxes."""
    row, _ = UserSyncSettings.objects.update_or_create(
        user=actor, defaults={"archive_in_provider": archive, "delete_in_provider": delete}
    )
    return row


@transaction.atomic
def set_team_switches(actor: User, account_id: int, *, archive: bool, delete: bool) -> MailAccount:
    """Personal settings › Email sync › Account: a team mailbox's switches, admins only."""
    account = _manageable(actor, account_id)
    if not account.is_team:
        raise InvalidRequest("Personal mailboxes use your general Email sync settings.")
    account.archive_in_provider = archive
    account.delete_in_provider = delete
    account.save(update_fields=["archive_in_provider", "delete_in_provider"])
    return account


@transaction.atomic
def resume_mailbox(actor: User, account_id: int) -> MailAccount:
    """Lift a pause (e.g. by the mass-delete guard) after the user checked the mailbox."""
    account = _manageable(actor, account_id)
    if account.status == AccountStatus.PAUSED:
        account.status = AccountStatus.ACTIVE
        account.status_reason = ""
        account.save(update_fields=["status", "status_reason"])
        nudge_sync_after_commit(account.pk)
    return account


@transaction.atomic
def disconnect_mailbox(actor: User, account_id: int, *, keep_mail: bool) -> MailAccount | None:
    """Stop syncing. Keep the synced mail (read-only history) or remove it with the account."""
    account = _manageable(actor, account_id)
    if not keep_mail:
        account.delete()
        return None
    account.status = AccountStatus.DISCONNECTED
    account.status_reason = "Disconnected by " + actor.email
    account.credentials = {}
    account.save(update_fields=["status", "status_reason", "credentials"])
    return account


def set_account_status(account: MailAccount, status: AccountStatus, reason: str = "") -> None:
    """What the sync learnt about a mailbox (needs re-authentication, paused by the
    mass-delete guard), with the reason the status page shows."""
    account.status = status
    account.status_reason = reason
    account.save(update_fields=["status", "status_reason"])


def record_sync_outcome(
    account: MailAccount, *, synced_at: datetime | None, error: str, next_sync_at: datetime
) -> None:
    """The end of one pull: when it last succeeded, its error ("" when none), and when the
    next one is due (this also ends the claim of ``claim_due_mailboxes``)."""
    account.last_sync_at, account.last_sync_error, account.next_sync_at = synced_at, error, next_sync_at
    MailAccount.objects.filter(pk=account.pk).update(
        last_sync_at=synced_at, last_sync_error=error, next_sync_at=next_sync_at
    )


def due_mailboxes(now: datetime) -> QuerySet[MailAccount]:
    """Active mailboxes of companies whose plan has email sync, due at ``now``."""
    return MailAccount.objects.filter(
        status=AccountStatus.ACTIVE, next_sync_at__lte=now, company__plan__in=plans.plans_with_email_sync()
    )


def claim_due_mailboxes(*, lease: timedelta, now: datetime | None = None) -> list[int]:
    """Claim every due mailbox in one ``UPDATE … RETURNING``: its ``next_sync_at`` moves to
    ``now + lease`` and its id is returned, so each is scheduled once per claim.

    Why: beat ticks every minute. Without the claim, a mailbox stays due until its pull
    finishes, and every tick queued one more pull while the workers were busy or stopped.
    The claim holds for ``lease`` (as long as the sync lock may): the pull sets the next
    due time when it ends (``record_sync_outcome``); a pull message lost with the broker is
    claimed again once the lease runs out. Two beats at once cannot both claim a mailbox:
    the second UPDATE re-checks ``next_sync_at <= now`` on the row the first one changed.
    """
    now = now or timezone.now()
    due_sql, due_params = due_mailboxes(now).values("id").query.sql_with_params()
    table = connection.ops.quote_name(MailAccount._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET next_sync_at = %s WHERE next_sync_at <= %s AND id IN ({due_sql}) "  # noqa: S608  (ORM-compiled SQL, params bound)
            "RETURNING id",
            [adapt(now + lease), adapt(now), *due_params],
        )
        return sorted(row[0] for row in cursor.fetchall())


def report_initial_sync_progress(
    account: MailAccount, *, done: int, total: int, finished: bool = False
) -> None:
    """Called by the sync while it imports a new mailbox; read by the status page."""
    MailAccount.objects.filter(pk=account.pk).update(
        initial_sync_done=done,
        initial_sync_total=total,
        initial_sync_finished_at=timezone.now() if finished else None,
    )
