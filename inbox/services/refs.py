"""Keeping provider references current after a push moved messages."""

from __future__ import annotations

from collections import Counter

from django.db import transaction

from inbox.models import MailAccount, ProviderRef

BATCH = 1000  # keys per IN (...) and rows per bulk INSERT


def relocate_refs(account: MailAccount, moved: dict[str, dict[str, object]]) -> int:
    """Point references at where a push put the messages (new folder, new UID).

    A reference whose message was deleted meanwhile simply no longer exists.
    """
    # Why set-based: a push of 10,000 archived messages relocates 10,000 references; two
    # statements per reference in autocommit took ~5 ms each and made the push 50-180× slower
    # than the UID MOVE itself (bench/imap_push_archive.py, profiled with pyinstrument).
    changes = {old: new for old, new in moved.items() if old != str(new["key"])}
    same = {old: new for old, new in moved.items() if old == str(new["key"])}
    new_keys = Counter(str(new["key"]) for new in changes.values())
    with transaction.atomic():
        if set(new_keys) & set(changes) or any(n > 1 for n in new_keys.values()):
            # Chains (a → b while b → c) or two keys landing on one: the order matters, so
            # apply them one by one exactly as listed.
            return _relocate_one_by_one(account, moved)
        old_keys = list(changes)
        present: set[str] = set()
        for start in range(0, len(old_keys), BATCH):
            present |= set(
                ProviderRef.objects.filter(
                    account_id=account.pk, key__in=old_keys[start : start + BATCH]
                ).values_list("key", flat=True)
            )
        # A reference already at its new key (a pull that ran in between found it there) is
        # replaced only by one that still sits at the old key; if none does, it stays.
        keys = [str(changes[old]["key"]) for old in old_keys if old in present]
        for start in range(0, len(keys), BATCH):
            ProviderRef.objects.filter(account_id=account.pk, key__in=keys[start : start + BATCH]).delete()
        updated = _update_in_place(account, same)
        rows: list[ProviderRef] = []
        for start in range(0, len(old_keys), BATCH):
            batch = list(
                ProviderRef.objects.filter(account_id=account.pk, key__in=old_keys[start : start + BATCH])
            )
            # Rewritten as delete + insert of the same rows (same pk, message, seen_at):
            # bulk_update's CASE per row took 16 s for 10,000 references, this takes well
            # under one. Nothing points at a ProviderRef, so the row identity is all that counts.
            ProviderRef.objects.filter(pk__in=[ref.pk for ref in batch]).delete()
            for ref in batch:
                new = changes[ref.key]
                ref.key = str(new["key"])
                ref.folder = str(new.get("folder", ""))
                ref.uidvalidity = new.get("uidvalidity")  # type: ignore[assignment]
                ref.uid = new.get("uid")  # type: ignore[assignment]
                rows.append(ref)
        ProviderRef.objects.bulk_create(rows, batch_size=BATCH)
        return updated + len(rows)


def _update_in_place(account: MailAccount, same: dict[str, dict[str, object]]) -> int:
    updated = 0
    for key, new in same.items():
        updated += ProviderRef.objects.filter(account_id=account.pk, key=key).update(
            folder=new.get("folder", ""), uidvalidity=new.get("uidvalidity"), uid=new.get("uid")
        )
    return updated


def _relocate_one_by_one(account: MailAccount, moved: dict[str, dict[str, object]]) -> int:
    updated = 0
    for old_key, new in moved.items():
        new_key = str(new["key"])
        current = ProviderRef.objects.filter(account_id=account.pk, key=old_key)
        if old_key != new_key:
            if not current.exists():
                continue  # already moved under its new key by a pull: keep that one
            ProviderRef.objects.filter(account_id=account.pk, key=new_key).delete()
        updated += current.update(
            key=new_key,
            folder=new.get("folder", ""),
            uidvalidity=new.get("uidvalidity"),
            uid=new.get("uid"),
        )
    return updated
