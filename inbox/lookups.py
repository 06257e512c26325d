"""Query helpers shared by the services and the sync code."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, Lookup
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
        return f"{lhs} = ANY(%s)", [*lhs_params, list(self.rhs)]


def any_of(field_name: str, values: Iterable[object]) -> AnyOf:
    """A filter: ``field_name`` (may follow relations) is one of ``values``."""
    return AnyOf(F(field_name), sorted(set(values)))  # type: ignore[type-var]
