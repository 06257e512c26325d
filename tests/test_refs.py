"""Provider references follow a message that a push moved."""

from __future__ import annotations

import pytest

from inbox.models import ProviderRef
from inbox.services import ingest_message
from inbox.services.refs import relocate_refs
from inbox.types import RefData
from tests.factories import parsed

pytestmark = pytest.mark.django_db


def _ingest(account, key: str, folder: str):  # type: ignore[no-untyped-def]
    return ingest_message(account, parsed(to=(account.address,)), RefData(key=key, folder=folder, uid=1))


def test_a_moved_message_keeps_one_reference_at_its_new_place(alice_mailbox):
    result = _ingest(alice_mailbox, "imap:INBOX:1:7", "INBOX")
    moved = relocate_refs(
        alice_mailbox, {"imap:INBOX:1:7": {"key": "imap:Archive:1:3", "folder": "Archive", "uid": 3}}
    )
    assert moved == 1
    assert list(
        ProviderRef.objects.filter(message_id=result.message_id).values_list("key", "folder", "uid")
    ) == [("imap:Archive:1:3", "Archive", 3)]


def test_a_pull_that_already_found_the_new_place_is_not_undone(alice_mailbox):
    result = _ingest(alice_mailbox, "imap:INBOX:1:7", "INBOX")
    # A pull ran between the move and its report: the old key is gone, the new one known.
    ProviderRef.objects.filter(key="imap:INBOX:1:7").update(key="imap:Archive:1:3", folder="Archive", uid=3)
    relocate_refs(
        alice_mailbox, {"imap:INBOX:1:7": {"key": "imap:Archive:1:3", "folder": "Archive", "uid": 3}}
    )
    assert list(ProviderRef.objects.filter(message_id=result.message_id).values_list("key", flat=True)) == [
        "imap:Archive:1:3"
    ]
