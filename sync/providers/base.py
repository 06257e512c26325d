"""The small interface every provider adapter implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from inbox.models import MailAccount


class Outcome(StrEnum):
    DONE = "done"
    RETRY = "retry"
    FAILED = "failed"
    # Not tried: it waits behind an earlier change of the same mailbox that must retry
    # first. Goes back without spending an attempt.
    DEFERRED = "deferred"


@dataclass(frozen=True)
class PushRequest:
    """One outbox change as the adapter sees it: what to do to which messages."""

    change_id: int
    kind: str  # archive | unarchive | trash
    refs: list[dict[str, object]]


@dataclass
class PushResult:
    change_id: int
    outcome: Outcome
    error: str = ""
    retry_after: float | None = None
    # Per message notes (moved, already there, skipped and why) shown with the change.
    details: dict[str, object] = field(default_factory=dict)
    # New provider locations after a move: old key -> new ref fields.
    relocated: dict[str, dict[str, object]] = field(default_factory=dict)
    # Provider keys (ref["key"]) of this change's messages that are finished — done, or
    # nothing to do — in this attempt, whatever the outcome: the outbox keeps them and the
    # next attempt's refs leave them out, so a retry redoes only what is not done.
    done_keys: list[str] = field(default_factory=list)
    # RETRY only because the provider throttled (429, rate limit): no attempt is spent.
    throttled: bool = False


@dataclass(frozen=True)
class SendRequest:
    """One message to send (a ``send`` change): the MIME as it leaves, the envelope, and
    how far earlier attempts got (``stage``, ``inbox.models.SendStage``)."""

    change_id: int
    outgoing_id: int
    raw: bytes
    envelope_from: str
    recipients: list[str]
    message_id: str
    stage: str
    # An earlier attempt ran (and may have died anywhere): look before sending again.
    retry: bool
    thread_id: str = ""
    # Bcc recipients (in ``recipients`` too, never in ``raw``): an API that reads the
    # envelope from the headers (Gmail) needs them as a Bcc header, which it strips.
    bcc: list[str] = field(default_factory=list)
    # Which attempt of the change this is (1 = the first).
    attempt: int = 1
    # What earlier attempts recorded with their checkpoints (see ``Checkpoint``).
    progress: dict[str, Any] = field(default_factory=dict)


def with_bcc(raw: bytes, bcc: list[str]) -> bytes:
    """For an API that reads the recipients from the headers (Gmail, Graph's MIME send) and
    strips Bcc: the Bcc header put in front of the rest."""
    if not bcc:
        return raw
    return b"Bcc: " + ", ".join(bcc).encode("ascii", "ignore") + b"\r\n" + raw


class Checkpoint(Protocol):
    """``checkpoint(stage)`` records a stage of the send at once (committed): a crash right
    after it must find it on the next attempt. ``progress`` (optional) is kept with it and
    handed to the next attempt as ``SendRequest.progress`` (e.g. an Outlook draft's id)."""

    def __call__(self, stage: str, progress: dict[str, Any] | None = None) -> None: ...


class SendAmbiguous(Exception):
    """The last attempt broke off after the message was handed over and before the server
    said it took it: it may have arrived. Never sent again without the user's Retry."""


@dataclass
class PullReport:
    created: int = 0
    duplicates: int = 0
    tombstoned: int = 0
    deleted: int = 0
    quarantined: int = 0
    paused: bool = False
    notes: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        """Tally one stored message by its ``sync.store.StoreOutcome``."""
        if outcome == "created":
            self.created += 1
        elif outcome == "duplicate":
            self.duplicates += 1
        elif outcome == "tombstoned":
            self.tombstoned += 1
        else:
            self.quarantined += 1


class ProviderAdapter(Protocol):
    account: MailAccount

    def push(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        """Apply changes in order; raise ProviderAuthError / ProviderTemporaryError for
        failures of the whole batch, return per-change outcomes otherwise. Idempotent."""
        ...

    def pull(self) -> PullReport:
        """Bring new messages and positive-evidence deletions since the stored cursor."""
        ...


class SendingAdapter(Protocol):
    """An adapter that can send (``sync/send.py`` asks for ``send`` by duck typing)."""

    def send(self, request: SendRequest, checkpoint: Checkpoint) -> dict[str, object]:
        """Send one message exactly once: on a retry, look for ``message_id`` where the
        provider files sent mail before sending again. Returns details for the record;
        raises the typed provider errors, or ``SendAmbiguous``."""
        ...
