"""Plain data the sync side hands to the inbox services (inbox never imports sync)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


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
