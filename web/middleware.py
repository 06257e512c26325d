from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render

from inbox.errors import InvalidRequest, NotAllowed, NotFound


class InboxErrorMiddleware:
    """Map the services' typed errors to HTTP answers, so views stay thin."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, NotFound):
            raise Http404(str(exception))
        if isinstance(exception, NotAllowed):
            raise PermissionDenied(str(exception))
        if isinstance(exception, InvalidRequest):
            if request.headers.get("HX-Request"):
                # htmx shows the plain reason in a toast.
                return HttpResponseBadRequest(str(exception))
            # A page (a typed URL, a form without JavaScript) says it in the app's layout.
            return render(request, "400.html", {"reason": str(exception)}, status=400)
        return None
