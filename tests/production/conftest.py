"""The production smoke test: compose's services started on this machine (stack.py)."""

from tests.imap.conftest import dovecot, dovecot_servers  # noqa: F401
