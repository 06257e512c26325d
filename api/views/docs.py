"""The OpenAPI document, and the envelope 404 for unknown paths."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from accounts.models import User
from api.errors import ApiError
from api.http import api_view
from api.openapi import document

_ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@require_GET
def openapi_document(request: HttpRequest) -> HttpResponse:
    # Public, like Pipedrive's published spec: it describes the API and holds no data.
    return JsonResponse(document())


@api_view(*_ALL_METHODS)
def not_found(request: HttpRequest, user: User) -> HttpResponse:
    raise ApiError(404, f"No such endpoint: {request.path}")
