"""Chromium fixtures shared with the browser tests (the XSS corpus is opened in a real browser)."""

from tests.browser.conftest import _fast_password_hashing, browser, open_as  # noqa: F401
