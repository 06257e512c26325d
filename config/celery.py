"""The Celery app: JSON only, late acks, one message at a time per worker process.

Every user action that must reach a provider is a row in the database outbox first;
Celery messages are only nudges. A lost message therefore costs a delay (the beat
sweeper re-nudges), never an action.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("salesinbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
