"""A web process that dies right after committing a user's action.

``python -m tests.chaos.commit_and_die ACTOR_ID CONVERSATION_ID...`` archives the
conversations through the inbox service and is SIGKILLed by its first on-commit callback —
registered before the service's, so the transaction is committed but the nudge that would
have sent a Celery message never runs. Only the beat sweeper can push the change now.
"""

from __future__ import annotations

import os
import signal
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import transaction

    from accounts.models import User
    from inbox import services

    actor = User.objects.get(pk=int(sys.argv[1]))
    ids = [int(a) for a in sys.argv[2:]]
    with transaction.atomic():
        # on_commit callbacks run in the order they were registered: this one first.
        transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
        services.archive_conversations(actor, ids)
    raise SystemExit("still alive after the commit: the kill did not happen")


if __name__ == "__main__":
    main()
