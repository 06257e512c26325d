from __future__ import annotations

import contextlib
from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.models import User
from accounts.time_zones import UnknownTimeZone, set_time_zone


@receiver(user_logged_in)
def take_the_browser_time_zone(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """The sign-in form carries the browser's zone (static/js/app.js fills it in): the first
    sign-in sets the user's zone; one chosen in settings is never overridden."""
    if request is None or request.method != "POST":
        return
    name = request.POST.get("time_zone", "")
    if name:
        # An odd browser value is ignored: the user can pick the zone in settings.
        with contextlib.suppress(UnknownTimeZone):
            set_time_zone(user, name, only_if_unset=True)
