"""Typed readers for environment variables that fail loudly.

Every setting the app reads comes through these helpers, so a typo such as
``DEBUG=ture`` stops the process at start-up with the variable's name instead of
silently meaning something else.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")


class _Missing:
    pass


MISSING = _Missing()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _read(name: str, default: T | _Missing, parse: Callable[[str], T]) -> T:
    raw = os.environ.get(name)
    if raw is None:
        if isinstance(default, _Missing):
            raise ImproperlyConfigured(f"Environment variable {name} is required but not set.")
        return default
    try:
        return parse(raw.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is invalid: {exc}") from exc


def env_str(name: str, default: str | _Missing = MISSING) -> str:
    return _read(name, default, str)


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def env_bool(name: str, default: bool | _Missing = MISSING) -> bool:
    return _read(name, default, _parse_bool)


def env_int(name: str, default: int | _Missing = MISSING) -> int:
    return _read(name, default, int)


def env_list(name: str, default: list[str] | _Missing = MISSING) -> list[str]:
    return _read(name, default, lambda raw: [item.strip() for item in raw.split(",") if item.strip()])
