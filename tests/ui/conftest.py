from __future__ import annotations

import pytest


@pytest.fixture
def as_alice(client, alice):  # type: ignore[no-untyped-def]
    client.force_login(alice)
    return client


HTMX = {"HTTP_HX_REQUEST": "true"}
