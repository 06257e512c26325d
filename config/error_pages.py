"""The app's own 404 / 403 / 500 pages, in its layout, also when DEBUG is on.

With DEBUG off Django already uses templates/404.html, 403.html and 500.html. With DEBUG on
(the demo runs so) it shows its developer pages instead: a 404 lists every URL pattern and a
crash shows a traceback. A newcomer trying the demo meets a 404 in ordinary use (a
conversation deleted in another tab, a mailbox that is not theirs), so for the app's pages we
show the product's own page in DEBUG too. Django's pages stay for /admin/ and /api/ (the API
answers in JSON), and for htmx requests, whose status code the page script turns into a toast.
A crash still writes its traceback to the server log (var/log/web.log in the demo).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.views import defaults

logger = logging.getLogger("django.request")

_DEVELOPER_PREFIXES = ("/admin/", "/api/v1/", "/static/", "/__")


def _is_app_page(request: HttpRequest) -> bool:
    if request.headers.get("HX-Request"):
        return False
    return not request.path.startswith(_DEVELOPER_PREFIXES)


class AppErrorPagesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and response.get("Content-Type", "").startswith("text/html")
            and _is_app_page(request)
        ):
            # Django's debug 404 (an unknown URL, or Http404 raised by a view): ours instead.
            response = defaults.page_not_found(request, Http404())
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A crash in DEBUG: the 500 page, the traceback in the log (as without DEBUG)."""
        if not settings.DEBUG or not _is_app_page(request):
            return None
        if isinstance(exception, Http404 | PermissionDenied | SuspiciousOperation):
            return None  # Django answers these with the app's pages (the 404 through __call__)
        logger.error("Internal Server Error: %s", request.path, exc_info=exception)
        return defaults.server_error(request)
