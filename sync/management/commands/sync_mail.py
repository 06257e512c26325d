from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inbox.models import AccountStatus, MailAccount, Provider
from sync.pull import pull_account_once


class Command(BaseCommand):
    help = "Pull mail now, as the sync_account task does (one line per mailbox)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", type=int, default=None, help="only this account id")

    def handle(self, *args: Any, account: int | None, **options: Any) -> None:
        if account is not None:
            ids = [account]
        else:
            ids = list(
                MailAccount.objects.exclude(provider=Provider.DEMO)
                .exclude(status=AccountStatus.DISCONNECTED)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        for account_id in ids:
            self.stdout.write(f"account {account_id}: {pull_account_once(account_id).line()}")
