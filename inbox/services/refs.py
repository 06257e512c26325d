"""Keeping provider references current after a push moved messages."""

from __future__ import annotations

from collections import Counter

from django.db import connection, transaction

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
        updated = _update_in_place(account, same)
        return updated + _rekey_in_one_statement(account, changes)


def _rekey_in_one_statement(account: MailAccount, changes: dict[str, dict[str, object]]) -> int:
    """Every reference at an old key takes its new key and place in one UPDATE … FROM
    unnest(arrays); before it, one DELETE clears a row already at a new key (a pull that
    ran in between found it there) — only when the old key still has its row to replace it.

    Why: 10,000 references were five statements per 1,000 (select, delete, select, delete,
    insert); now two statements whatever the count, with five array parameters each."""
    if not changes:
        return 0
    table = connection.ops.quote_name(ProviderRef._meta.db_table)
    old_keys = list(changes)
    new_keys = [str(changes[old]["key"]) for old in old_keys]
    folders = [str(changes[old].get("folder", "")) for old in old_keys]
    validities = [_number(changes[old].get("uidvalidity")) for old in old_keys]
    uids = [_number(changes[old].get("uid")) for old in old_keys]
    with connection.cursor() as cursor:
        # The table name comes from the model, quoted; every value goes as a parameter.
        cursor.execute(
            f"""
            DELETE FROM {table} AS taken
            USING unnest(%s::varchar[], %s::varchar[]) AS moved(old_key, new_key)
            WHERE taken.account_id = %s AND taken.key = moved.new_key
              AND EXISTS (SELECT 1 FROM {table} AS still
                          WHERE still.account_id = %s AND still.key = moved.old_key)
            """,  # noqa: S608
            [old_keys, new_keys, account.pk, account.pk],
        )
        cursor.execute(
            f"""
            UPDATE {table} AS ref
            SET key = moved.new_key, folder = moved.folder,
                uidvalidity = moved.uidvalidity, uid = moved.uid
            FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::bigint[], %s::bigint[])
                 AS moved(old_key, new_key, folder, uidvalidity, uid)
            WHERE ref.account_id = %s AND ref.key = moved.old_key
            """,  # noqa: S608
            [old_keys, new_keys, folders, validities, uids, account.pk],
        )
        return cursor.rowcount


def _number(value: object) -> int | None:
    return int(value) if value is not None else None  # type: ignore[call-overload]


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
