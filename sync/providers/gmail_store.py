"""Placeholder: wired to the shared parse → ingest → quarantine pipeline once it lands."""

from __future__ import annotations

from inbox.models import MailAccount
from inbox.types import RefData


def store_raw_message(
    account: MailAccount, raw: bytes, ref: RefData, *, incoming: bool, is_read: bool
) -> str:
    raise NotImplementedError("waiting for the shared MIME pipeline")
