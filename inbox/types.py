"""Plain data the sync side hands to the inbox services (inbox never imports sync)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


@dataclass(frozen=True)
class Address:
    email: str
    name: str = ""


@dataclass
class ParsedMessage:
    message_id: str
    subject: str
    sender: Address | None
    to: list[Address]
    cc: list[Address]
    date: datetime
    text: str = ""
    html: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    attachments: list[dict[str, object]] = field(default_factory=list)
    incoming: bool = True
    is_read: bool = False
    problems: list[str] = field(default_factory=list)
    # What the bulk ingest computes of this message alone (``inbox.services.ingest.prepare``),
    # computed where it was parsed — a parse worker, on another core than the store thread.
    # Set last by the parse (``sync.parse_pool.parse_one``); whoever changes a field after
    # that must set it back to None. Not part of the message's value (equality, repr).
    prepared: PreparedMessage | None = field(default=None, compare=False, repr=False)


class PreparedMessage(NamedTuple):
    """A parsed message's per-message part of its ingest: the ``inbox_message`` row's values
    from ``message_id`` to ``parse_problems`` except ``direction`` (truncated, JSON encoded),
    its addresses as ``(lowered address, Address)`` in ``_addresses`` order, its snippet and
    its normalized subject. A tuple: it crosses from the parse workers pickled, and a slotted
    dataclass pickles through Python-level state functions (twice the time)."""

    row: tuple[object, ...]
    addresses: tuple[tuple[str, Address], ...]
    snippet: str
    normalized_subject: str


@dataclass(frozen=True)
class RefData:
    """Where the provider keeps a message; ``key`` is unique per account."""

    key: str
    folder: str = ""
    uidvalidity: int | None = None
    uid: int | None = None
    thread_id: str = ""


class IngestOutcome(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    TOMBSTONED = "tombstoned"


@dataclass(frozen=True)
class IngestResult:
    outcome: IngestOutcome
    conversation_id: int | None = None
    message_id: int | None = None
    unarchived: bool = False
