"""Browser tests of the Email sync switches: the inbox UI's Chromium fixtures, a real
Dovecot, and one real Celery worker for the module (pushes happen as in production)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import pytest

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
def open_trusting(browser, live_server):  # type: ignore[no-untyped-def]
    """Like tests/browser's open_as, in a context that accepts the fake providers' test CA
    (Chromium does not read the CA file; the certificate is still served over real TLS)."""
    from django.conf import settings
    from django.test import Client

    from tests.browser_fixtures import watch_csp

    contexts = []
    errors: list[str] = []
    csp_violations: list[str] = []

    def open_page(user, path: str):  # type: ignore[no-untyped-def]
        client = Client()
        client.force_login(user)
        context = browser.new_context(base_url=live_server.url, ignore_https_errors=True)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
        watch_csp(context, csp_violations)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not csp_violations, f"Content-Security-Policy violations: {csp_violations}"
