"""The OpenAPI document, the envelope 404 for unknown paths, and JSON error handlers.

Everything under /api/ answers in Pipedrive's JSON error envelope, never an HTML page:
unknown paths (v1, v2 or neither), wrong methods, and the errors Django itself raises
before or after a view (a bad request, an unhandled exception) alike.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from accounts.models import User
from api.errors import ApiError, error_response
from api.http import api_view
from api.openapi import document

_ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@csrf_exempt
def openapi_document(request: HttpRequest) -> HttpResponse:
    # Public, like Pipedrive's published spec: it describes the API and holds no data.
    if request.method not in ("GET", "HEAD"):
        response = error_response(405, f"Method {request.method} is not allowed here.")
        response["Allow"] = "GET, HEAD"
        return response
    return JsonResponse(document())


@api_view(*_ALL_METHODS)
def not_found(request: HttpRequest, user: User) -> HttpResponse:
    raise ApiError(404, f"No such endpoint: {request.path}")


def _is_api(request: HttpRequest) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response(400, "Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response(403, "Forbidden.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response(404, f"No such endpoint: {request.path}")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        # Nothing about the failure itself: it is logged, and the client cannot act on it.
        return error_response(500, "Internal server error; the failure was logged.")
    return defaults.server_error(request)
