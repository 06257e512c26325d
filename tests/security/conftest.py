"""The XSS corpus is opened in a real browser: `browser` and `open_as` come from
tests/browser_fixtures.py, registered once for every package in tests/conftest.py."""

from tests.imap.conftest import imap  # noqa: F401  (real Dovecot)
