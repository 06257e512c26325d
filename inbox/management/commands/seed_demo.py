from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inbox.demo_data import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Create the demo company with alice (admin) and bob, CRM records and demo mail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--conversations", type=int, default=300)
        parser.add_argument("--password", default=DEMO_PASSWORD)
        parser.add_argument(
            "--messages", type=int, default=None, help="messages per conversation (default 1-3)"
        )

    def handle(
        self, *args: Any, conversations: int, password: str, messages: int | None, **options: Any
    ) -> None:
        started = time.perf_counter()
        summary = seed_demo(conversations=conversations, password=password, messages=messages)
        took = time.perf_counter() - started
        if summary.created:
            self.stdout.write(f"Seeded {summary.conversations} conversations in {took:.1f}s.")
        else:
            self.stdout.write(f"Demo company already there ({summary.conversations} conversations).")
        self.stdout.write(f"Log in as alice@demo.test (admin) or bob@demo.test with password: {password}")
