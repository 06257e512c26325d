"""API v2 list parameters and cursor (keyset) pagination, as Pipedrive's v2 lists page.

A cursor names the listing it continues and where: ``<sort_by>.<direction>.<key>.<id>``,
the last row's sort key (the id, or the time in microseconds since 1970) and id. Clients
treat it as opaque, as Pipedrive asks; it is spelled plainly so the OpenAPI document can
say exactly which strings are cursors. The next page starts strictly after that key, so
rows added or removed meanwhile never shift a page (offsets would skip or repeat rows),
and each page costs one query whatever its depth.

A cursor continues the listing it came from: its sort wins over sort_by/sort_direction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest

from api.errors import ApiError
from api.fields import ID_PATTERN
from api.http import DEFAULT_LIMIT, MAX_LIMIT, choice_param, query_param

M = TypeVar("M", bound=Model)

# Pipedrive's sort fields → ours.
SORT_FIELDS = {"id": "id", "add_time": "created_at", "update_time": "updated_at"}
SORT_DIRECTIONS = ("asc", "desc")
MAX_IDS = 100
CURSOR_PATTERN = r"^(id|add_time|update_time)\.(asc|desc)\.[0-9]{1,18}\.[1-9][0-9]{0,17}$"
# RFC 3339 with a zone. Years 1900-2999 and days a month always has: every string this
# matches is a real time that converts to UTC without overflow (a 29 February is accepted
# too, in leap years, but not promised by the pattern).
_YEAR = r"(19|2[0-9])[0-9]{2}"
_MONTH_DAY = (
    r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
)
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
_ZONE = r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
RFC3339_PATTERN = f"^{_YEAR}-{_MONTH_DAY}T{_TIME}{_ZONE}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Far enough for any stored time; a larger key cannot come from this server.
_MAX_KEY_MICROSECONDS = (datetime(3000, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND


@dataclass(frozen=True)
class ListQuery:
    sort_by: str
    direction: str
    limit: int
    after: tuple[int, int] | None  # the last row's sort key (id or µs since 1970) and id


def _encode(sort_by: str, direction: str, key: int, last_id: int) -> str:
    return f"{sort_by}.{direction}.{key}.{last_id}"


def _decode(cursor: str) -> tuple[str, str, int, int]:
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise ApiError(400, "cursor is not a cursor this API gave out.")
    sort_by, direction, key, last_id = cursor.split(".")
    return sort_by, direction, int(key), int(last_id)


def _parse_time(raw: str, name: str) -> datetime:
    if not re.fullmatch(RFC3339_PATTERN, raw.upper()):
        raise ApiError(400, f"{name} must be an RFC 3339 time, 1900-2999, e.g. 2025-01-01T10:20:00Z.")
    try:
        parsed = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
    except ValueError as exc:  # 29 February of a year that has none
        raise ApiError(400, f"{name} is not a real date and time.") from exc
    # In UTC: PostgreSQL refuses zone offsets beyond ±15:59, which RFC 3339 allows.
    return parsed.astimezone(UTC)


def list_query(request: HttpRequest) -> ListQuery:
    """sort_by, sort_direction, limit and cursor, checked (bad input → 400)."""
    sort_by = choice_param(request, "sort_by", tuple(SORT_FIELDS), "id")
    direction = choice_param(request, "sort_direction", SORT_DIRECTIONS, "asc")
    raw_limit = query_param(request, "limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        if not raw_limit.isascii() or not raw_limit.isdigit() or len(raw_limit) > 9:
            raise ApiError(400, "limit must be a positive integer.")
        limit = int(raw_limit)
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}.")
    after = None
    cursor = query_param(request, "cursor")
    if cursor:  # an empty cursor is the first page, as Pipedrive treats it
        sort_by, direction, key, last_id = _decode(cursor)
        after = (key, last_id)
    return ListQuery(sort_by, direction, limit, after)


def time_param(request: HttpRequest, name: str) -> datetime | None:
    raw = query_param(request, name)
    return None if raw is None else _parse_time(raw, name)


def id_param(request: HttpRequest, name: str) -> int | None:
    raw = query_param(request, name)
    if raw is None:
        return None
    if not re.fullmatch(ID_PATTERN, raw):
        raise ApiError(400, f"{name} must be a positive integer id.")
    return int(raw)


def ids_param(request: HttpRequest) -> list[int] | None:
    """``ids=1,2,3``: at most 100, as Pipedrive allows."""
    raw = query_param(request, "ids")
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) > MAX_IDS or not all(re.fullmatch(ID_PATTERN, p) for p in parts):
        raise ApiError(400, f"ids must be up to {MAX_IDS} positive integer ids, separated by commas.")
    return [int(p) for p in parts]


def refuse_params(request: HttpRequest, *names: str) -> None:
    """Parameters Pipedrive has and this server cannot honour (no filters, no pipelines):
    ignoring one would answer a different question than the one asked."""
    for name in names:
        if name in request.GET:
            raise ApiError(400, f"{name} is not supported by this server (see docs/api.md).")


def common_filters(request: HttpRequest) -> Q:
    """ids, owner_id, updated_since and updated_until: shared by every v2 list."""
    q = Q()
    ids = ids_param(request)
    if ids is not None:
        q &= Q(pk__in=ids)
    owner = id_param(request, "owner_id")
    if owner is not None:
        q &= Q(owner_id=owner)
    since = time_param(request, "updated_since")
    if since is not None:
        q &= Q(updated_at__gte=since)
    until = time_param(request, "updated_until")
    if until is not None:
        q &= Q(updated_at__lt=until)
    return q


def page(qs: QuerySet[M], query: ListQuery) -> tuple[list[M], str | None]:
    """One page in the requested order and the cursor of the next (None at the end)."""
    field = SORT_FIELDS[query.sort_by]
    desc = query.direction == "desc"
    op = "lt" if desc else "gt"
    if query.after is not None:
        key, last_id = query.after
        if field == "id":
            qs = qs.filter(**{f"id__{op}": last_id})
        else:
            when = _EPOCH + min(key, _MAX_KEY_MICROSECONDS) * _MICROSECOND
            qs = qs.filter(Q(**{f"{field}__{op}": when}) | Q(**{field: when, f"id__{op}": last_id}))
    order = ["id"] if field == "id" else [field, "id"]
    qs = qs.order_by(*(f"-{f}" if desc else f for f in order))
    rows = list(qs[: query.limit + 1])
    if len(rows) <= query.limit:
        return rows, None
    rows = rows[: query.limit]
    last = rows[-1]
    key_out = last.pk if field == "id" else (getattr(last, field) - _EPOCH) // _MICROSECOND
    return rows, _encode(query.sort_by, query.direction, key_out, last.pk)
