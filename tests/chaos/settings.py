"""Settings of the chaos runs' worker and beat processes: production settings (read from
the environment like everywhere) with beat running only the outbox sweeper, often.

Production beat sweeps every 30 s; here every few seconds, so the runs take minutes, not
hours. Beat keeps its schedule in a file instead of the database scheduler's tables.
"""

import os

from config.settings import *  # noqa: F403

CELERY_BEAT_SCHEDULER = "celery.beat:PersistentScheduler"
CELERY_BEAT_SCHEDULE = {
    "sweep-outbox": {
        "task": "sync.sweep_outbox",
        "schedule": float(os.environ.get("CHAOS_SWEEP_SECONDS", "2")),
    },
}
