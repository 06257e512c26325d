"""relocate_refs: references follow messages a push moved, in bulk and in the odd cases."""

from __future__ import annotations

import pytest

from inbox.models import ProviderRef
from inbox.services.refs import relocate_refs
from tests.factories import receive

pytestmark = pytest.mark.django_db


def _loc(folder: str, uid: int) -> dict[str, object]:
    return {"key": f"imap:{folder}:9:{uid}", "folder": folder, "uidvalidity": 9, "uid": uid}


def _keys(account) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return dict(ProviderRef.objects.filter(account=account).values_list("message_id", "key"))


def test_relocate_moves_many_references_to_their_new_folder(alice_mailbox):  # type: ignore[no-untyped-def]
    results = [receive(alice_mailbox) for _ in range(5)]
    before = _keys(alice_mailbox)
    moved = {before[r.message_id]: _loc("Archive", n) for n, r in enumerate(results, start=1)}

    assert relocate_refs(alice_mailbox, moved) == 5

    refs = {r.message_id: r for r in ProviderRef.objects.filter(account=alice_mailbox)}
    for n, result in enumerate(results, start=1):
        ref = refs[result.message_id]
        assert (ref.key, ref.folder, ref.uidvalidity, ref.uid) == (f"imap:Archive:9:{n}", "Archive", 9, n)


def test_relocate_replaces_a_reference_a_sync_already_made_for_the_new_place(alice_mailbox):  # type: ignore[no-untyped-def]
    moved_msg = receive(alice_mailbox)
    synced_msg = receive(alice_mailbox, folder="Archive")
    ProviderRef.objects.filter(message_id=synced_msg.message_id).update(key="imap:Archive:9:1", uid=1)
    old = _keys(alice_mailbox)[moved_msg.message_id]

    assert relocate_refs(alice_mailbox, {old: _loc("Archive", 1)}) == 1

    assert _keys(alice_mailbox) == {moved_msg.message_id: "imap:Archive:9:1"}


def test_relocate_follows_a_chain_in_the_order_given(alice_mailbox):  # type: ignore[no-untyped-def]
    first, second = receive(alice_mailbox), receive(alice_mailbox)
    keys = _keys(alice_mailbox)
    a, b = keys[first.message_id], keys[second.message_id]
    # b moves on first, then a takes b's old place: both must survive, nothing collides.
    relocate_refs(
        alice_mailbox, {b: _loc("Archive", 7), a: {"key": b, "folder": "INBOX", "uidvalidity": 1, "uid": 0}}
    )

    assert _keys(alice_mailbox) == {second.message_id: "imap:Archive:9:7", first.message_id: b}


def test_relocate_ignores_a_reference_deleted_meanwhile(alice_mailbox, alice):  # type: ignore[no-untyped-def]
    kept = receive(alice_mailbox)
    keys = _keys(alice_mailbox)

    assert relocate_refs(alice_mailbox, {"imap:INBOX:1:999999": _loc("Archive", 3)}) == 0
    assert _keys(alice_mailbox) == keys
    assert kept.message_id in keys


def test_relocate_never_touches_another_accounts_reference(alice_mailbox, carol_mailbox):  # type: ignore[no-untyped-def]
    carols = receive(carol_mailbox)
    key = _keys(carol_mailbox)[carols.message_id]

    assert relocate_refs(alice_mailbox, {key: _loc("Archive", 1)}) == 0
    assert _keys(carol_mailbox) == {carols.message_id: key}
