"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against live_server.

One Playwright session for the whole run: every browser test package uses these fixtures
(registered once in tests/conftest.py), since a second sync_playwright() in the same
process fails.

Playwright's sync API runs an event loop in this thread, so Django's async-safety check
would refuse the ORM calls the tests make between clicks; the tests are single-threaded
on purpose, which is what DJANGO_ALLOW_ASYNC_UNSAFE allows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Reported by every document the page opens: the app sets Content-Security-Policy on every
# response (config/settings.py). Init scripts are not subject to the page's policy.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` in ${e.documentURI} (${e.sourceFile || ""}:${e.lineNumber})`);
});
"""


def watch_csp(context: BrowserContext, violations: list[str]) -> None:
    """Collect every Content-Security-Policy violation in the context's pages: the console
    lines Chromium writes ("Refused to ...", also for the mail frames, where no script of
    ours runs) and the securitypolicyviolation events of the app's own documents."""

    def on_console(message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or text.startswith("CSP violation:"):
            violations.append(text)

    context.add_init_script(_REPORT_CSP_VIOLATIONS)
    context.on("console", on_console)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-test-services.sh (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_as(browser: Browser, live_server: Any) -> Iterator[Callable[..., Page]]:
    """A signed-in page for a user: the session is made by Django, the cookie handed over.

    Any JavaScript error or Content-Security-Policy violation on the page fails the test.
    """
    contexts = []
    errors: list[str] = []
    csp_violations: list[str] = []

    def open_page(
        user: Any,
        path: str = "/inbox/",
        *,
        width: int = 1440,
        height: int = 900,
        touch: bool = False,
        timezone_id: str | None = None,
        ignore_https_errors: bool = False,
    ) -> Page:
        """``touch``: a phone's touch screen (tap, no hover); ``timezone_id``: the browser's zone;
        ``ignore_https_errors``: accept the fake providers' test CA (Chromium does not read the
        CA file; the certificate is still served over real TLS)."""
        client = Client()
        client.force_login(user)
        extra: dict[str, Any] = {"has_touch": True, "is_mobile": True} if touch else {}
        if timezone_id:
            extra["timezone_id"] = timezone_id
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": width, "height": height},
            ignore_https_errors=ignore_https_errors,
            **extra,
        )
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )
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
