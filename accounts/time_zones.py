"""Each user's time zone: the one rule for which zone a page or an API local field uses."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import cache
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import User


class UnknownTimeZone(ValueError):
    """Not an IANA time zone name this server knows."""


@cache
def known_time_zones() -> tuple[str, ...]:
    return tuple(sorted(n for n in zoneinfo.available_timezones() if "/" in n or n == "UTC"))


def zone_of(user: object) -> ZoneInfo:
    """The user's zone; UTC for a user who has none yet (or an anonymous visitor)."""
    name = getattr(user, "time_zone", "") or "UTC"
    try:
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def set_time_zone(user: User, name: str, *, only_if_unset: bool = False) -> bool:
    """Save the user's zone; ``only_if_unset`` is the browser's guess at sign-in, which never
    overrides a zone the user chose. Returns whether it changed."""
    name = name.strip()
    if name not in known_time_zones():
        raise UnknownTimeZone(f"“{name[:64]}” is not a time zone this server knows.")
    if only_if_unset and user.time_zone:
        return False
    if user.time_zone == name:
        return False
    user.time_zone = name
    user.save(update_fields=["time_zone"])
    return True


class UserTimeZoneMiddleware:
    """Pages render dates in the signed-in user's zone (Django's ``date`` filter and
    ``timezone.localtime`` follow the active zone)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            timezone.activate(zone_of(user))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
