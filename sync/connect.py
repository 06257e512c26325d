"""Connecting and reconnecting a mailbox: the one service behind the connect form
(web/views/connect.py, IMAP and OAuth) and ``manage.py connect_imap``.

The order is the rule: the plan is asked first (nothing reaches a provider on a plan
without email sync, or over its mailbox limit), then the IMAP login is verified, then the
mailbox is stored through the inbox services (which check plan and permissions again, in
the same transaction as the write).

Reconnecting (a new password, a renewed OAuth grant) is not a new mailbox: the plan's limit
does not apply (only a plan without email sync refuses), and the mailbox keeps its kind,
name, members, address and the folders a person chose for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accounts import plans
from accounts.models import User
from inbox import services
from inbox.errors import PlanLimitReached
from inbox.models import AccountKind, MailAccount, Provider
from inbox.services.mailboxes import check_can_connect
from inbox.settings_selectors import can_manage
from sync import folder_settings, smtp_settings
from sync.providers.imap import VerifiedMailbox, verify_mailbox
from sync.providers.imap.client import default_port


@dataclass(frozen=True)
class ImapLogin:
    """What a person types to connect an IMAP mailbox; empty port and login take defaults."""

    address: str
    host: str
    security: str
    # Never in a repr: an error report shows the frames' locals, this object among them.
    password: str = field(repr=False)
    port: int | None = None
    login: str = ""
    # The outgoing server as typed (smtp_host, smtp_port, smtp_security, smtp_login,
    # smtp_password; sync/smtp_settings.py): empty, it is guessed from the IMAP host.
    smtp: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def effective_port(self) -> int:
        return self.port or default_port(self.security)

    def effective_login(self, address: str) -> str:
        return self.login.strip() or address


@dataclass(frozen=True)
class Connected:
    account: MailAccount
    reconnected: bool
    verified: VerifiedMailbox | None = None


def _same_address(user: User, address: str, *, kind: str) -> MailAccount | None:
    """A mailbox of this kind and address the user already manages: connecting it again is
    a reconnect (a new password), not one more mailbox."""
    if user.company_id is None:
        return None
    existing = MailAccount.objects.filter(
        company_id=user.company_id, address__iexact=address.strip(), kind=kind
    ).first()
    return existing if existing is not None and can_manage(user, existing) else None


def plan_refusal(user: User, *, kind: str, reconnect: MailAccount | None) -> str:
    """Why the plan refuses this connection ("" when it allows it), asked before any
    provider is contacted. A reconnect is not a new mailbox: only "no email sync" refuses."""
    if not plans.email_sync_available(user):
        return plans.upgrade_notice()
    if reconnect is not None:
        return ""
    try:
        check_can_connect(user, kind=kind)
    except PlanLimitReached as exc:
        return str(exc)
    return ""


def store_mailbox(
    user: User,
    *,
    provider: str,
    address: str,
    credentials: dict[str, object],
    config: dict[str, object],
    kind: str = AccountKind.PERSONAL,
    name: str = "",
    members: list[User] | None = None,
    reconnect: MailAccount | None = None,
) -> Connected:
    """Store a verified mailbox through the inbox services; a reconnect keeps what it had."""
    if reconnect is not None:
        kind, name, members = reconnect.kind, reconnect.name, list(reconnect.members.all())
        if provider == Provider.IMAP:
            config = folder_settings.keep_chosen_folders(reconnect, config)
    if kind == AccountKind.TEAM:
        account = services.connect_team_mailbox(
            user,
            provider=provider,
            address=address,
            name=name,
            members=members or [],
            credentials=credentials,
            config=config,
        )
    else:
        account = services.connect_personal_mailbox(
            user, provider=provider, address=address, credentials=credentials, config=config
        )
    return Connected(account, reconnected=reconnect is not None)


def connect_imap_mailbox(
    user: User,
    login: ImapLogin,
    *,
    kind: str = AccountKind.PERSONAL,
    name: str = "",
    members: list[User] | None = None,
    reconnect: MailAccount | None = None,
) -> Connected:
    """Connect (or reconnect) an IMAP mailbox: plan first, then a real login, then store.

    Raises PlanLimitReached before contacting the server; the typed provider errors
    (sync/errors.py) when the login or the folder discovery fails, SmtpRefused when a typed
    outgoing server refuses its login (nothing is stored in either case);
    the inbox services' errors (address taken, not an admin) when storing is refused.
    """
    if reconnect is None:
        reconnect = _same_address(user, login.address, kind=kind)
    if reconnect is not None:
        kind = reconnect.kind
    refusal = plan_refusal(user, kind=kind, reconnect=reconnect)
    if refusal:
        raise PlanLimitReached(refusal)
    address = (reconnect.address if reconnect is not None else login.address).strip().lower()
    verified = verify_mailbox(
        host=login.host,
        port=login.effective_port,
        security=login.security,
        login=login.effective_login(address),
        password=login.password,
    )
    # Raises SmtpRefused when a typed outgoing server refuses the login (nothing is stored).
    smtp = smtp_settings.resolve(
        login.smtp,
        imap_host=login.host,
        imap_login=login.effective_login(address),
        imap_password=login.password,
    )
    config: dict[str, object] = dict(verified.config)
    credentials: dict[str, object] = {"password": login.password}
    if smtp.config is not None:
        config["smtp"] = smtp.config
        credentials["smtp_password"] = smtp.password
    stored = store_mailbox(
        user,
        provider=Provider.IMAP,
        address=address,
        credentials=credentials,
        config=config,
        kind=kind,
        name=name,
        members=members,
        reconnect=reconnect,
    )
    return Connected(stored.account, reconnected=stored.reconnected, verified=verified)
