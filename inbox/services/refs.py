"""Keeping provider references current after a push moved messages."""

from __future__ import annotations

from inbox.models import MailAccount, ProviderRef


def relocate_refs(account: MailAccount, moved: dict[str, dict[str, object]]) -> int:
    """Point references at where a push put the messages (new folder, new UID).

    A reference whose message was deleted meanwhile simply no longer exists.
    """
    updated = 0
    for old_key, new in moved.items():
        new_key = str(new["key"])
        if old_key != new_key:
            # The new location may already be known from a sync that ran in between.
            ProviderRef.objects.filter(account_id=account.pk, key=new_key).delete()
        updated += ProviderRef.objects.filter(account_id=account.pk, key=old_key).update(
            key=new_key,
            folder=new.get("folder", ""),
            uidvalidity=new.get("uidvalidity"),
            uid=new.get("uid"),
        )
    return updated
