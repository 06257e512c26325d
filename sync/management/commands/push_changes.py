from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inbox.models import ChangeStatus, ProviderChange
from sync.push import push_account


class Command(BaseCommand):
    help = "Push pending archive/unarchive/trash changes now, as the push_changes task does."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", type=int, default=None, help="only this account id")

    def handle(self, *args: Any, account: int | None, **options: Any) -> None:
        if account is not None:
            ids = [account]
        else:
            ids = sorted(
                set(
                    ProviderChange.objects.filter(
                        status__in=[ChangeStatus.PENDING, ChangeStatus.RUNNING]
                    ).values_list("account_id", flat=True)
                )
            )
        for account_id in ids:
            self.stdout.write(f"account {account_id}: {push_account(account_id).line()}")
