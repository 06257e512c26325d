from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from crm.models import PersonEmail
from inbox.models import Attachment
from inbox.services.links import link_participants_to_person, unlink_participants_from_address


@receiver(post_save, sender=PersonEmail)
def _link_new_person_address(sender: type[PersonEmail], instance: PersonEmail, **kwargs: Any) -> None:
    link_participants_to_person(instance)


@receiver(post_delete, sender=PersonEmail)
def _unlink_removed_person_address(sender: type[PersonEmail], instance: PersonEmail, **kwargs: Any) -> None:
    unlink_participants_from_address(instance)


@receiver(post_delete, sender=Attachment)
def _remove_kept_bytes(sender: type[Attachment], instance: Attachment, **kwargs: Any) -> None:
    """A deleted row (its message deleted, in the app or the provider, or its mailbox
    disconnected) takes its kept bytes with it — once the delete has committed."""
    name = instance.file.name if instance.file else ""
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))
