from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from crm.models import PersonEmail
from inbox.services.links import link_participants_to_person, unlink_participants_from_address


@receiver(post_save, sender=PersonEmail)
def _link_new_person_address(sender: type[PersonEmail], instance: PersonEmail, **kwargs: Any) -> None:
    link_participants_to_person(instance)


@receiver(post_delete, sender=PersonEmail)
def _unlink_removed_person_address(sender: type[PersonEmail], instance: PersonEmail, **kwargs: Any) -> None:
    unlink_participants_from_address(instance)
