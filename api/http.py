"""Pipedrive's envelope, errors, request parsing, and the token-only view decorator."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from accounts.time_zones import zone_of
from api.errors import ApiError, error_response
from api.fields import Body
from api.tokens import user_for_token
from inbox.errors import InvalidRequest, NotAllowed, NotFound

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
# Ids are PostgreSQL bigints; a longer number cannot name anything and must not reach SQL.
_MAX_ID_DIGITS = 18


# The service name Pipedrive's mail endpoints put in their envelope.
MAIL_SERVICE = "mail-service"


def ok(
    data: Any,
    *,
    status: int = 200,
    additional_data: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JsonResponse:
    body: dict[str, Any] = {"success": True, **(extra or {}), "data": data}
    if additional_data is not None:
        body["additional_data"] = additional_data
    return JsonResponse(body, status=status)


def offset_pagination(*, start: int, limit: int, more: bool) -> dict[str, Any]:
    """Pipedrive's v1 offset pagination; ``next_start`` only when there is more."""
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return pagination


def ok_page(items: list[Any], *, start: int, limit: int, more: bool) -> JsonResponse:
    """A v1 list with the pagination under ``additional_data.pagination`` (deals, persons, …)."""
    return ok(items, additional_data={"pagination": offset_pagination(start=start, limit=limit, more=more)})


def ok_flat_page(items: list[Any], *, start: int, limit: int, more: bool) -> JsonResponse:
    """A v1 list with the pagination fields straight in ``additional_data``.

    Pipedrive's leads and its deal/person mail-message lists put ``start``, ``limit`` and
    ``more_items_in_collection`` there (the official clients' types say so).
    """
    return ok(items, additional_data=offset_pagination(start=start, limit=limit, more=more))


# --- parsing ---------------------------------------------------------------------------


def parse_id(raw: str, *, what: str = "id") -> int:
    """A positive integer id from the path; ``/deals/abc`` is bad input (400), not a 404."""
    if not raw.isascii() or not raw.isdigit():
        raise ApiError(400, f"{what} must be a positive integer.")
    if len(raw) > _MAX_ID_DIGITS or int(raw) < 1:
        # Zero, or too large to fit a bigint: well-formed, but nothing has it.
        raise ApiError(404, f"No object with {what} {raw}.")
    return int(raw)


def query_param(request: HttpRequest, name: str) -> str | None:
    """A query parameter given at most once (``?start=1&start=2`` is ambiguous: 400)."""
    values = request.GET.getlist(name)
    if len(values) > 1:
        raise ApiError(400, f"{name} was given more than once.")
    return values[0] if values else None


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    raw = query_param(request, name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise ApiError(400, f"{name} must be a non-negative integer.")
    return int(raw)


def pagination(request: HttpRequest) -> tuple[int, int]:
    start = _int_param(request, "start", 0)
    limit = _int_param(request, "limit", DEFAULT_LIMIT)
    if limit < 1 or limit > MAX_LIMIT:
        raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}.")
    return start, limit


def choice_param(request: HttpRequest, name: str, choices: tuple[str, ...], default: str) -> str:
    value = query_param(request, name)
    if value is None:
        return default
    if value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}.")
    return value


def request_body(request: HttpRequest) -> Body:
    """A PUT/POST body: JSON (typed), or form-encoded as Pipedrive's own examples send."""
    content_type = (request.content_type or "").lower()
    raw = request.body
    if content_type == "application/json":
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "The request body is not valid JSON.") from exc
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return Body(data, form=False)
    if content_type == "application/x-www-form-urlencoded" or not raw:
        try:
            form = QueryDict(raw, encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, "The form body is not valid UTF-8.") from exc
        return Body({key: form.getlist(key) for key in form}, form=True)
    raise ApiError(415, f"Unsupported content type {content_type!r}: send JSON or a form.")


def json_body(request: HttpRequest) -> Body:
    """An API v2 body: a JSON object (v2 takes no forms). No body at all is an empty object."""
    if not request.body:
        return Body({}, form=False)
    if (request.content_type or "").lower() != "application/json":
        raise ApiError(415, "API v2 takes a JSON body (Content-Type: application/json).")
    return request_body(request)


# --- the view decorator ----------------------------------------------------------------


def request_token(request: HttpRequest) -> str:
    """The API token, from where Pipedrive's clients put it, in Pipedrive's order.

    ``x-api-token`` first (the official clients send it there since 27.0.0), then an
    ``Authorization: Bearer`` header, then the ``api_token`` query parameter. The first
    place that holds something decides: a wrong token there is a 401, never a fallback
    to a credential somewhere else in the request.
    """
    header = request.headers.get("x-api-token")
    if header is not None:
        return header.strip()
    authorization = request.headers.get("Authorization", "")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        # Only a Bearer token counts; any other scheme is a wrong credential, not a fallback.
        return value.strip() if scheme.lower() == "bearer" else ""
    return request.GET.get("api_token", "")


ApiView = Callable[..., HttpResponse]


def api_view(*methods: str) -> Callable[[ApiView], Callable[..., HttpResponse]]:
    """Token auth (never the session cookie), method check, typed errors → envelopes.

    CSRF-exempt because a cookie never authenticates here: a forged cross-site request
    carries the victim's cookies but not their token, so it gets a 401.
    """

    def decorate(view: ApiView) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            try:
                user = user_for_token(request_token(request))
                if user is None:
                    raise ApiError(401, "unauthorized access")
                timezone.activate(zone_of(user))  # the *_local_time fields (deactivated after)
                if request.method not in methods:
                    response = error_response(405, f"Method {request.method} is not allowed here.")
                    response["Allow"] = ", ".join(methods)
                    return response
                return view(request, user, **kwargs)
            except ApiError as exc:
                return exc.response()
            except (NotFound, Http404) as exc:
                return error_response(404, str(exc) or "Not found.")
            except NotAllowed as exc:
                return error_response(403, str(exc))
            except InvalidRequest as exc:
                return error_response(400, str(exc))

        return wrapper

    return decorate
