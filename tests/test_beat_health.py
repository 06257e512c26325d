"""Beat's container health check (docker-compose.yml: ``manage.py beat_health``) reads when
beat last sent the outbox sweeper from django-celery-beat's table. Beat must write each run
there as it sends it: by default it writes its runs to the database only every 3 minutes,
so the check (3 minutes' tolerance, a sweep every 30 s) failed for up to half a minute of
every three on a healthy beat.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from config.celery import app
from tests.worker import unique_queue

pytestmark = pytest.mark.django_db(transaction=True)


def _send_the_sweeper(scheduler: DatabaseScheduler) -> None:
    """What beat's tick does for a due entry: reserve its next run, then send it."""
    entry = scheduler.schedule["sweep-outbox"]
    scheduler.apply_entry(scheduler.reserve(entry), producer=scheduler.producer)


def _recorded_run() -> object:
    return PeriodicTask.objects.get(task="sync.sweep_outbox").last_run_at


def test_beat_records_every_sweeper_run_at_once_so_its_health_check_never_reads_a_stale_time():
    with unique_queue("beat"):
        scheduler = DatabaseScheduler(app=app)
        _send_the_sweeper(scheduler)
        first = _recorded_run()
        _send_the_sweeper(scheduler)  # the next run, well within beat's 3-minute sync
        second = _recorded_run()
        scheduler.close()
    assert first is not None and second is not None and second > first
    call_command("beat_health")  # raises CommandError when the recorded run is too old
