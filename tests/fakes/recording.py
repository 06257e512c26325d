"""A provider adapter that records what it is asked to do and answers as scripted.

It stands in for a provider only where the provider itself is not the subject (the outbox
lifecycle); the real adapters are tested against Dovecot and the fake Google/Microsoft servers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import ClassVar

from inbox.models import MailAccount
from sync.providers.base import Outcome, PullReport, PushRequest, PushResult

Script = Callable[[Sequence[PushRequest]], list[PushResult]]


class RecordingAdapter:
    calls: ClassVar[list[tuple[int, list[PushRequest]]]] = []
    # Each push pops the next script; with none left, every change is done.
    scripts: ClassVar[deque[Script | Exception]] = deque()

    def __init__(self, account: MailAccount) -> None:
        self.account = account

    @classmethod
    def reset(cls) -> None:
        cls.calls.clear()
        cls.scripts.clear()

    def push(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        type(self).calls.append((self.account.pk, list(requests)))
        if self.scripts:
            script = self.scripts.popleft()
            if isinstance(script, Exception):
                raise script
            return script(requests)
        return [PushResult(r.change_id, Outcome.DONE) for r in requests]

    def pull(self) -> PullReport:
        return PullReport()
