"""View decorators for the plan policy (healthchecks' ``@require_setting`` is the model)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts import plans
from accounts.models import User

View = Callable[..., HttpResponse]


def require_email_sync(
    refuse: Callable[[HttpRequest], HttpResponse] | None = None,
    *,
    methods: Collection[str] | None = None,
) -> Callable[[View], View]:
    """Run the view only when the user's plan has email sync.

    Otherwise ``refuse(request)`` answers (the settings pages show the upgrade page), or,
    without ``refuse``, 403 with the upgrade notice. ``methods`` limits the check to those
    HTTP methods (a page that stays readable on every plan refuses only its POST). Put it
    under ``login_required``."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            checked = methods is None or request.method in methods
            if checked and not (isinstance(user, User) and plans.email_sync_available(user)):
                if refuse is not None:
                    return refuse(request)
                raise PermissionDenied(plans.upgrade_notice())
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
