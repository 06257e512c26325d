"""manage.py create_api_token EMAIL — make (or replace) a user's API token and print it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from api.models import ApiToken
from api.tokens import issue_token


class Command(BaseCommand):
    help = "Create a new API token for the user with this e-mail address and print it (replaces any old one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=options["email"].strip()).first()
        if user is None:
            raise CommandError(f"No user with e-mail address {options['email']!r}.")
        if not user.is_active or user.company_id is None:
            raise CommandError(f"{user.email} is inactive or belongs to no company; a token would not work.")
        replaced = ApiToken.objects.filter(user=user).exists()
        token = issue_token(user)
        if replaced:
            self.stderr.write(f"The previous token of {user.email} no longer works.")
        # Only the token on stdout, so `TOKEN=$(manage.py create_api_token EMAIL)` works.
        self.stdout.write(token)
