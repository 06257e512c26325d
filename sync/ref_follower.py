"""The app's references follow the messages a push moves, while the push goes on."""

from __future__ import annotations

from inbox.models import MailAccount
from inbox.services.refs import relocate_refs
from sync.store import BackgroundStore


class RefFollower:
    """``relocate_refs`` for each part of a push's new locations, on a thread of its own
    (``BackgroundStore``), one part at a time and in the order handed over: PostgreSQL
    rewrites one MOVE batch's references while the server moves the next.

    Why: a bulk archive of 10,000 messages rewrote its references after the last MOVE, and
    the push waited for the server and then for the database (bench/imap_push_archive.py).
    A part is handed over only once the server confirmed the move, so a reference never
    points where its message is not yet; order matters for a message moved twice in one push.

    ``close`` waits for the last part (raising its error); ``close_after_error`` when the
    push ends with an error of its own. In a transaction (a test) each part is rewritten
    at once, in the caller's thread, as ``BackgroundStore`` does.
    """

    def __init__(self, account: MailAccount) -> None:
        self.account = account
        self._store = BackgroundStore(thread_name="push-refs")

    def __call__(self, moved: dict[str, dict[str, object]]) -> None:
        account = self.account
        self._store.submit(lambda: relocate_refs(account, moved), _done)

    def close(self) -> None:
        self._store.close()

    def close_after_error(self) -> None:
        self._store.close_after_error()


def _done(_count: int) -> None:
    """Nothing to tally: the rewritten references are the result."""
