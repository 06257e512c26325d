from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask


class Command(BaseCommand):
    help = "Exit non-zero unless beat ran the outbox sweeper recently (a container health check)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--max-age", type=int, default=180, help="seconds")

    def handle(self, *args: Any, max_age: int, **options: Any) -> None:
        task = PeriodicTask.objects.filter(task="sync.sweep_outbox").first()
        if task is None or task.last_run_at is None:
            raise CommandError("beat has not run the outbox sweeper yet")
        age = timezone.now() - task.last_run_at
        if age > timedelta(seconds=max_age):
            raise CommandError(f"beat last ran the outbox sweeper {int(age.total_seconds())}s ago")
        self.stdout.write(f"beat healthy: sweeper ran {int(age.total_seconds())}s ago")
