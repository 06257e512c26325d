"""API tokens: one per user, stored as a SHA-256 digest so a database dump reveals none."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A user's Pipedrive-style ``api_token``.

    Only the digest is kept: the plaintext is shown once, when it is made. One token per
    user (as in Pipedrive); making a new one replaces the old, which stops working at once.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")
    digest = models.CharField(max_length=64, unique=True)
    # The last four characters, so a person can tell which token a script holds.
    hint = models.CharField(max_length=4)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"API token …{self.hint} of {self.user}"
