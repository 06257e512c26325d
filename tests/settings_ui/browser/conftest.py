"""Browser tests of the Email sync switches: the inbox UI's Chromium fixtures, a real
Dovecot, and one real Celery worker for the module (pushes happen as in production)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import pytest

from tests.browser.conftest import _fast_password_hashing, browser, open_as  # noqa: F401
from tests.imap.conftest import dovecot, dovecot_servers  # noqa: F401
from tests.worker import purge_queue, running_worker


@pytest.fixture(scope="module")
def worker_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker") / "worker.log"


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, worker_log: Path) -> Iterator[Popen[bytes]]:  # type: ignore[no-untyped-def]
    """A Celery worker on the test database, started once for the module's tests."""
    with django_db_blocker.unblock():
        purge_queue()
        with running_worker(log_path=worker_log) as process:
            yield process
