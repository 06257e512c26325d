"""/healthz, answered before any other middleware.

Container health checks call ``http://127.0.0.1:8000/healthz`` from inside the container:
that Host is not in ALLOWED_HOSTS (the site's domain is) and the request is plain HTTP, so
host validation (CommonMiddleware) and the HTTPS redirect (SecurityMiddleware) would both
refuse it. The answer builds no URL from the Host header, so skipping them is safe.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse

HEALTH_PATH = "/healthz"


def healthz() -> HttpResponse:
    """Liveness for the web container: the process answers and the database does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == HEALTH_PATH and request.method in ("GET", "HEAD"):
            return healthz()
        return self.get_response(request)
