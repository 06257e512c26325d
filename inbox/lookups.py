"""Query helpers shared by the services and the sync code."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import F, Lookup, QuerySet
from django.db.models.lookups import In


class AnyOf(Lookup):  # type: ignore[type-arg]
    """``field IN (values)`` as ``field = ANY(%s)`` on PostgreSQL: one array parameter however
    many values. PostgreSQL plans both alike (it turns an IN list into ``= ANY`` itself);
    the difference is in Python: Django prepares each value of an ``__in`` separately and
    psycopg's client-side binding splits a query of 1,000 placeholders apart, about a
    millisecond per statement of a batch's ten. Elsewhere (SQLite) it is ``IN``."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):  # type: ignore[no-untyped-def]
        if connection.vendor != "postgresql":
            return In(self.lhs, list(self.rhs)).as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        placeholder, array = self.array()
        return f"{lhs} = ANY({placeholder})", [*lhs_params, array]

    def array(self) -> tuple[str, object]:
        """The placeholder and the parameter of the array of values."""
        return "%s", list(self.rhs)


def any_of(field_name: str, values: Iterable[object]) -> AnyOf:
    """A filter: ``field_name`` (may follow relations) is one of ``values``."""
    return AnyOf(F(field_name), sorted(set(values)))  # type: ignore[type-var]


def text_array(values: Iterable[str]) -> str:
    """A PostgreSQL ``text[]`` literal of ``values``, every element double-quoted (inside the
    quotes only ``"`` and ``\\`` are escaped; "NULL", spaces and braces are then plain text).

    psycopg writes a list parameter by testing each element against a regular expression to
    decide whether it needs quotes, about 2 µs an element: a first sync's bulk ingest sends
    some 2,500 strings a group this way, a tenth of the store thread's Python. Quoting every
    element needs one test of the whole instead."""
    values = list(values)
    if not values:
        return "{}"
    joined = "".join(values)
    if "\\" in joined or '"' in joined:
        values = [value.replace("\\", "\\\\").replace('"', '\\"') for value in values]
    return '{"' + '","'.join(values) + '"}'


class AnyText(AnyOf):
    """``AnyOf`` for strings, the array sent as one ``text[]`` literal (``text_array``).
    A ``varchar`` column compares with ``text`` by the same operator (PostgreSQL has no
    separate one for ``varchar``), so its btree indexes serve it as they serve ``AnyOf``."""

    lookup_name = "any_text"

    def array(self) -> tuple[str, object]:
        return "%s::text[]", text_array(self.rhs)


def any_text(field_name: str, values: Iterable[str]) -> AnyText:
    """A filter: the string ``field_name`` (may follow relations) is one of ``values``."""
    return AnyText(F(field_name), sorted(set(values)))  # type: ignore[type-var]


def values_in(queryset: QuerySet, field_name: str, values: Iterable[str], *fields: str) -> list[tuple]:  # type: ignore[type-arg]
    """``values_list(*fields)`` of the rows whose string ``field_name`` is one of ``values``:
    one ``= ANY`` of a ``text[]`` literal on PostgreSQL (``any_text``) however many, 1,000 per
    IN elsewhere (SQLite's limit on parameters)."""
    wanted = sorted(set(values))
    if not wanted:
        return []
    if connection.vendor == "postgresql":
        return list(queryset.filter(any_text(field_name, wanted)).values_list(*fields))
    rows: list[tuple] = []  # type: ignore[type-arg]
    for start in range(0, len(wanted), 1000):
        rows += queryset.filter(**{f"{field_name}__in": wanted[start : start + 1000]}).values_list(*fields)
    return rows
