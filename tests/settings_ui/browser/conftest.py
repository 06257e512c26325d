"""Browser tests of the Email sync switches: the inbox UI's Chromium fixtures, a real
Dovecot, and one real Celery worker for the module (pushes happen as in production)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from playwright.sync_api import Page

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


@pytest.fixture
def open_trusting(open_as: Callable[..., Page]) -> Callable[[Any, str], Page]:
    """tests/browser_fixtures.open_as in a context that accepts the fake providers' test CA,
    at Playwright's default 1280×720 viewport."""

    def open_page(user: Any, path: str) -> Page:
        return open_as(user, path, width=1280, height=720, ignore_https_errors=True)

    return open_page
