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


def ok(data: Any, *, status: int = 200, additional_data: Mapping[str, Any] | None = None) -> JsonResponse:
    body: dict[str, Any] = {"success": True, "data": data}
    if additional_data is not None:
        body["additional_data"] = additional_data
    return JsonResponse(body, status=status)


def ok_page(items: list[Any], *, start: int, limit: int, more: bool) -> JsonResponse:
    """A list with Pipedrive's offset pagination; ``next_start`` only when there is more."""
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return ok(items, additional_data={"pagination": pagination})


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


# --- the view decorator ----------------------------------------------------------------


def _token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
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
                user = user_for_token(_token(request))
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
