"""The OpenAPI document describes exactly the routes in api/urls.py (v1) and api/urls_v2.py
(v2), is the same wherever it is served, and is valid."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver

pytestmark = pytest.mark.django_db

DOCUMENT_URLS = ("/api/openapi.json", "/api/v1/openapi.json", "/api/v2/openapi.json")


def _routes(namespace: str, prefix: str) -> set[str]:
    api_patterns = next(
        p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == namespace
    ).url_patterns
    routes = set()
    for pattern in api_patterns:
        assert isinstance(pattern, URLPattern)
        if pattern.name in ("openapi", "not_found"):
            continue
        routes.add(prefix + "/" + re.sub(r"<str:\w+>", "{id}", str(pattern.pattern)))
    return routes


def test_document_lists_exactly_the_served_endpoints_of_both_versions():
    document = Client().get("/api/openapi.json").json()
    v1, v2 = _routes("api", "/v1"), _routes("api_v2", "/v2")
    assert document["servers"] == [{"url": "/api"}]
    assert set(document["paths"]) == v1 | v2
    assert (len(v1), len(v2)) == (17, 6)


def test_document_is_the_same_at_every_url_and_needs_no_token():
    documents = [Client().get(url) for url in DOCUMENT_URLS]
    assert all(d.status_code == 200 and d["Content-Type"] == "application/json" for d in documents)
    assert documents[0].json() == documents[1].json() == documents[2].json()


def test_document_declares_the_three_ways_to_send_the_token():
    document = Client().get("/api/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["x_api_token"] == {"type": "apiKey", "in": "header", "name": "x-api-token"}
    assert schemes["api_token"] == {"type": "apiKey", "in": "query", "name": "api_token"}
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer"}
    assert document["security"] == [{"x_api_token": []}, {"bearer": []}, {"api_token": []}]


def test_document_is_a_valid_openapi_3_schema():
    import schemathesis

    schema = schemathesis.openapi.from_dict(Client().get("/api/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    # v1: 17 paths, 21 method/path pairs; v2: 6 paths, 15 method/path pairs
    assert len(operations) == 21 + 15
