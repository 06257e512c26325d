"""manage.py email_sync_settings (--user EMAIL | --account ID)
[--archive-in-provider on|off] [--delete-in-provider on|off] [--as ADMIN_EMAIL]

Provisioning by script: sets the two Email sync switches through the same services as the
settings pages, then prints the settings in force. Without a switch option it only prints.

--user sets a user's General settings (they apply to all of that user's personal
mailboxes); --account ID of a team mailbox sets that mailbox's own switches, acting as one
of the company's admins (--as, or the first admin who may change it). A personal mailbox's
switches are its owner's General settings, so --account of one only prints them.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from accounts import plans
from accounts.models import Role, User
from inbox import services
from inbox.errors import InboxError
from inbox.models import MailAccount
from inbox.selectors import sync_switches
from inbox.settings_selectors import ARCHIVE_LABEL, DELETE_LABEL

ON_OFF = {"on": True, "off": False}


def on_off(value: bool) -> str:
    return "on" if value else "off"


class Command(BaseCommand):
    help = "Show or set the Email sync switches of a user (General settings) or of a team mailbox."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--user", metavar="EMAIL", help="a user's General settings")
        target.add_argument("--account", metavar="ID", type=int, help="a mailbox (team mailboxes: its own)")
        parser.add_argument("--archive-in-provider", choices=sorted(ON_OFF), default=None)
        parser.add_argument("--delete-in-provider", choices=sorted(ON_OFF), default=None)
        parser.add_argument(
            "--as", dest="actor", metavar="ADMIN_EMAIL", default=None, help="team mailbox: the admin acting"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        archive = options["archive_in_provider"]
        delete = options["delete_in_provider"]
        changing = archive is not None or delete is not None
        if options["user"]:
            self._user(options["user"], archive, delete, changing)
        else:
            self._account(options["account"], archive, delete, changing, options["actor"])

    # --- a user's General settings -----------------------------------------------------------
    def _user(self, email: str, archive: str | None, delete: str | None, changing: bool) -> None:
        user = User.objects.select_related("company").filter(email__iexact=email.strip()).first()
        if user is None or user.company is None:
            raise CommandError(f"No user {email} (with a company).")
        if changing:
            self._refuse_on_lite(user)
            current = sync_switches(user)
            services.set_personal_switches(
                user,
                archive=ON_OFF[archive] if archive else current[0],
                delete=ON_OFF[delete] if delete else current[1],
            )
        in_force = sync_switches(user)
        self.stdout.write(
            f"General settings of {user.email} ({user.company}, {user.company.get_plan_display()} plan)"
        )
        self._plan_line(user)
        self._switch_lines(in_force)
        mailboxes = MailAccount.objects.filter(owner=user, kind="personal").order_by("pk")
        listed = ", ".join(f"{m.address} (#{m.pk}, {m.get_status_display().lower()})" for m in mailboxes)
        self.stdout.write(f"  Applies to: {listed or 'no personal mailbox yet'}")

    # --- one mailbox ------------------------------------------------------------------------------
    def _account(
        self,
        account_id: int,
        archive: str | None,
        delete: str | None,
        changing: bool,
        actor_email: str | None,
    ) -> None:
        account = MailAccount.objects.select_related("company", "owner").filter(pk=account_id).first()
        if account is None:
            raise CommandError(f"No mailbox with id {account_id}.")
        if changing:
            if not account.is_team:
                owner = account.owner.email if account.owner else "its owner"
                raise CommandError(
                    f"Mailbox {account_id} is personal: its switches are the General settings of "
                    f"{owner}. Change them with --user {owner}."
                )
            actor = self._admin(account, actor_email)
            self._refuse_on_lite(actor)
            current = sync_switches(account)
            try:
                account = services.set_team_switches(
                    actor,
                    account.pk,
                    archive=ON_OFF[archive] if archive else current[0],
                    delete=ON_OFF[delete] if delete else current[1],
                )
            except InboxError as exc:
                raise CommandError(f"{actor.email} cannot change {account.address}: {exc}") from exc
        kind = f'team mailbox "{account}"' if account.is_team else f"personal mailbox of {account.owner}"
        self.stdout.write(
            f"Mailbox {account.pk}: {account.address} ({kind}, {account.get_provider_display()}, "
            f"{account.get_status_display().lower()}) at {account.company} "
            f"({account.company.get_plan_display()} plan)"
        )
        if not plans.has_email_sync(account.company):
            self.stdout.write(
                f"  Email sync is off on the {account.company.get_plan_display()} plan: "
                "nothing is synced or pushed."
            )
        self._switch_lines(sync_switches(account))
        if account.is_team:
            self.stdout.write("  Set by: this team mailbox's own settings (company admins change them)")
        else:
            self.stdout.write(f"  Set by: the General settings of {account.owner}")

    # --- helpers -----------------------------------------------------------------------------------
    def _admin(self, account: MailAccount, email: str | None) -> User:
        admins = User.objects.filter(company_id=account.company_id, role=Role.ADMIN, is_active=True)
        if email:
            actor = admins.filter(email__iexact=email.strip()).first()
            if actor is None:
                raise CommandError(f"{email} is not an admin of {account.company}.")
            return actor
        # Prefer an admin who is a member: the services let members' admins change the switches.
        actor = (
            admins.filter(Q(team_mail_accounts=account)).order_by("pk").first()
            or admins.order_by("pk").first()
        )
        if actor is None:
            raise CommandError(f"{account.company} has no company admin to act as.")
        return actor

    def _refuse_on_lite(self, user: User) -> None:
        if not plans.email_sync_available(user):
            raise CommandError(f"Refused: {plans.refused_line(user.company)}")

    def _plan_line(self, user: User) -> None:
        if user.company is not None and not plans.has_email_sync(user.company):
            self.stdout.write(
                f"  Email sync is off on the {user.company.get_plan_display()} plan: "
                "nothing is synced or pushed."
            )

    def _switch_lines(self, switches: tuple[bool, bool]) -> None:
        self.stdout.write(f"  {ARCHIVE_LABEL}: {on_off(switches[0])}")
        self.stdout.write(f"  {DELETE_LABEL}: {on_off(switches[1])}")
