"""Kept attachment bytes follow their row: a cascade (a message deleted in the app or at the
provider, a mailbox disconnected) deletes rows without a service seeing each one, so the file
is removed here, once the delete has committed."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from inbox.models import Attachment, Draft


@receiver(post_delete, sender=Attachment)
def _remove_kept_bytes(sender: type[Attachment], instance: Attachment, **kwargs: Any) -> None:
    name = instance.file.name if instance.file else ""
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))


@receiver(post_delete, sender=Draft)
def _remove_draft_files(sender: type[Draft], instance: Draft, **kwargs: Any) -> None:
    # Sent (the message keeps its own copies), discarded, or its mailbox disconnected.
    names = [str(entry["name"]) for entry in instance.files or [] if entry.get("name")]
    if names:
        transaction.on_commit(lambda: _delete(names))


def _delete(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)
