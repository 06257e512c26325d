"""The OpenAPI document describes exactly the routes in api/urls.py, and is valid."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver

pytestmark = pytest.mark.django_db


def _routes() -> set[str]:
    api_patterns = next(
        p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "api"
    ).url_patterns
    routes = set()
    for pattern in api_patterns:
        assert isinstance(pattern, URLPattern)
        if pattern.name in ("openapi", "not_found"):
            continue
        routes.add("/" + re.sub(r"<str:\w+>", "{id}", str(pattern.pattern)))
    return routes


def test_document_lists_exactly_the_served_endpoints():
    document = Client().get("/api/v1/openapi.json").json()
    assert set(document["paths"]) == _routes()
    assert len(_routes()) == 14


def test_document_is_a_valid_openapi_3_schema():
    import schemathesis

    schema = schemathesis.openapi.from_dict(Client().get("/api/v1/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 18  # 14 paths, 18 method/path pairs
