"""manage.py connect_imap EMAIL --host H --port P --security ssl|starttls|none --login LOGIN
--password-env VAR [--team "Team name"] [--user OWNER_EMAIL] [--company NAME]

Verifies the login, finds the folders (special-use flags; a name guess is marked as such),
stores the password encrypted and prints the new account's id. The password is read from
an environment variable so it never shows up in the shell history or the process list.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import plans
from accounts.models import Role, Team, User
from inbox.errors import InboxError
from inbox.models import AccountKind
from sync.connect import ImapLogin, connect_imap_mailbox
from sync.errors import ProviderAuthError, ProviderError, ProviderTemporaryError
from sync.providers.imap.client import SECURITY_CHOICES, default_port


class Command(BaseCommand):
    help = "Connect an IMAP mailbox (personal, or a team's shared mailbox with --team)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the mailbox's e-mail address")
        parser.add_argument("--host", required=True)
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help=f"default {default_port('ssl')} for ssl, else {default_port('starttls')}",
        )
        parser.add_argument("--security", choices=SECURITY_CHOICES, default="ssl")
        parser.add_argument("--login", default=None, help="IMAP login (default: the e-mail address)")
        parser.add_argument("--password-env", required=True, metavar="VAR", help="environment variable")
        parser.add_argument("--team", default=None, help="connect as the shared mailbox of this team")
        parser.add_argument(
            "--user", default=None, help="personal: the owner (default EMAIL); team: the admin acting"
        )
        parser.add_argument("--company", default=None, help="company name, when the team name is ambiguous")

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip().lower()
        team = self._team(options["team"], options["company"]) if options["team"] else None
        actor = self._actor(options["user"], email, team)
        if not plans.email_sync_available(actor):
            # Refuse before reading the password or touching the mail server.
            raise CommandError(f"Refused: {plans.refused_line(actor.company)}")
        password = os.environ.get(options["password_env"])
        if not password:
            raise CommandError(f"Environment variable {options['password_env']} is not set or empty.")
        login = ImapLogin(
            address=email,
            host=options["host"],
            security=options["security"],
            password=password,
            port=options["port"],
            login=options["login"] or "",
        )
        try:
            connected = connect_imap_mailbox(
                actor,
                login,
                kind=AccountKind.TEAM if team else AccountKind.PERSONAL,
                name=team.name if team else "",
                members=list(team.members.all()) if team else None,
            )
        except ProviderAuthError as exc:
            raise CommandError(f"Login refused: {exc}") from exc
        except ProviderTemporaryError as exc:
            raise CommandError(f"Could not connect: {exc}") from exc
        except ProviderError as exc:
            raise CommandError(str(exc)) from exc
        except InboxError as exc:
            raise CommandError(str(exc)) from exc  # plan limits, address taken, not an admin
        account, verified = connected.account, connected.verified
        assert verified is not None
        kind = f"shared mailbox of team {team.name}" if team else f"personal mailbox of {actor.email}"
        self.stdout.write(f"Connected {account.address} as account {account.pk} ({kind}).")
        folders = verified.folders
        for role in ("sent", "archive", "trash"):
            name = folders.get(role)
            note = " (guessed from its name)" if folders.guessed.get(role) else ""
            self.stdout.write(f"  {role.title()}: {name or 'not found'}{note}")
        self.stdout.write(str(account.pk))

    def _team(self, name: str, company: str | None) -> Team:
        teams = Team.objects.filter(name=name).select_related("company")
        if company:
            teams = teams.filter(company__name=company)
        found = list(teams[:2])
        if not found:
            raise CommandError(f"No team named {name!r}" + (f" at {company}." if company else "."))
        if len(found) > 1:
            raise CommandError(f"Several companies have a team named {name!r}: add --company.")
        return found[0]

    def _actor(self, user_email: str | None, email: str, team: Team | None) -> User:
        if team is None:
            owner = User.objects.filter(email__iexact=user_email or email).select_related("company").first()
            if owner is None:
                raise CommandError(f"No user {user_email or email}: pass the owner with --user.")
            return owner
        admins = User.objects.filter(company=team.company, role=Role.ADMIN, is_active=True).select_related(
            "company"
        )
        if user_email:
            admins = admins.filter(email__iexact=user_email)
        admin = admins.order_by("pk").first()
        if admin is None:
            raise CommandError(f"{team.company.name} has no (such) company admin to connect a team mailbox.")
        return admin
