from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def as_alice(client, alice):  # type: ignore[no-untyped-def]
    client.force_login(alice)
    return client


HTMX = {"HTTP_HX_REQUEST": "true"}
