"""Request-body fields, parsed exactly as the OpenAPI document describes them.

A JSON body is typed (numbers, strings, null); a form body has only strings, where an
empty value means null. The patterns here are the ones the document publishes, so what
the schema calls valid is accepted and what it calls invalid gets a 400.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from api.errors import ApiError

MAX_ID = 999_999_999_999_999_999  # 18 digits: always fits a PostgreSQL bigint
ID_PATTERN = r"^[1-9][0-9]{0,17}$"
MONEY_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$"
MAX_MONEY = Decimal("999999999999.99")
CURRENCY_PATTERN = r"^[A-Za-z]{3}$"
# Some character that is neither blank (ASCII whitespace) nor NUL, which PostgreSQL
# cannot store in text. Spelled with escapes both Python's and JSON Schema's regexes read.
TEXT_PATTERN = r"^[^\x00]*[^\x00 \t\n\r\x0b\x0c][^\x00]*$"
PHONE_PATTERN = r"^[^\x00]{0,50}$"
_BLANKS = " \t\n\r\x0b\x0c"
# A plain dot-atom address with a dotted domain; bounded so every match fits 254 chars.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9_%+-]{1,40}(\.[A-Za-z0-9_%+-]{1,40})?"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?\.){1,4}[A-Za-z]{2,24}$"
)


@dataclass(frozen=True)
class Unset:
    """The field was not sent: leave it alone (null, by contrast, clears it)."""


UNSET = Unset()


@dataclass
class Body:
    """A request body: a JSON object, or a form as {field: [values]}."""

    data: dict[str, Any] = field(default_factory=dict)
    form: bool = False

    def raw(self, name: str) -> Any:
        if name not in self.data:
            return UNSET
        value = self.data[name]
        if self.form:
            # Form fields arrive as lists of strings; a field we read must come once.
            if len(value) != 1:
                raise ApiError(400, f"{name} was given more than once.")
            value = value[0]
            if value == "":
                return None  # a form has no other way to say null
        return value


def _integral(value: Any) -> int | None:
    """An int from a JSON number that is a whole number (JSON Schema counts 2.0 as 2)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def flag(body: Body, name: str) -> bool | None:
    """0 or 1, as a number or a string."""
    value = body.raw(name)
    if value is UNSET:
        return None
    number = _integral(value)
    if number in (0, 1):
        return number == 1
    if isinstance(value, str) and value in ("0", "1"):
        return value == "1"
    raise ApiError(400, f"{name} must be 0 or 1.")


def optional_id(body: Body, name: str) -> int | Unset | None:
    """A positive id as a number or a digit string, or null; UNSET when absent."""
    value = body.raw(name)
    if value is UNSET or value is None:
        return value
    number = _integral(value)
    if number is None and isinstance(value, str) and re.fullmatch(ID_PATTERN, value):
        number = int(value)
    if number is None or not 1 <= number <= MAX_ID:
        raise ApiError(400, f"{name} must be a positive integer id or null.")
    return number


def required_text(body: Body, name: str, *, max_length: int) -> str:
    """A string with some non-blank character; surrounding blanks are dropped."""
    value = body.raw(name)
    if value is UNSET or value is None:
        raise ApiError(400, f"{name} is required.")
    if not isinstance(value, str) or not re.fullmatch(TEXT_PATTERN, value, flags=re.DOTALL):
        raise ApiError(400, f"{name} must be text with at least one visible character.")
    _check_encodable(value, name)
    if len(value) > max_length:
        raise ApiError(400, f"{name} is longer than {max_length} characters.")
    return value.strip(_BLANKS)


def choice(body: Body, name: str, choices: tuple[str, ...], default: str) -> str:
    value = body.raw(name)
    if value is UNSET or value is None:
        return default
    if value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}.")
    return str(value)


def currency(body: Body, name: str = "currency", default: str = "EUR") -> str:
    value = body.raw(name)
    if value is UNSET or value is None:
        return default
    if not isinstance(value, str) or not re.fullmatch(CURRENCY_PATTERN, value):
        raise ApiError(400, f"{name} must be a 3-letter code such as EUR.")
    return value.upper()


def money(body: Body, name: str) -> Decimal:
    value = body.raw(name)
    if value is UNSET or value is None:
        return Decimal(0)
    if isinstance(value, str):
        if not re.fullmatch(MONEY_PATTERN, value):
            raise ApiError(400, f"{name} must be a number with at most 2 decimals.")
        return Decimal(value).quantize(Decimal("0.01"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, f"{name} must be a number.")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:  # NaN / Infinity never get here from JSON, but be sure
        raise ApiError(400, f"{name} must be a number.") from exc
    if not amount.is_finite() or abs(amount) > MAX_MONEY:
        raise ApiError(400, f"{name} must be between -{MAX_MONEY} and {MAX_MONEY}.")
    return amount.quantize(Decimal("0.01"))


def entries(body: Body, name: str, *, pattern: str, max_items: int = 20) -> list[tuple[str, bool]]:
    """Pipedrive's email/phone: a string, or a list of strings or {value, primary, label}."""
    raw = body.raw(name)
    if raw is UNSET or raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > max_items:
        raise ApiError(400, f"{name} takes at most {max_items} values.")
    out: list[tuple[str, bool]] = []
    for item in items:
        primary = False
        value = item
        if isinstance(item, dict):
            if not isinstance(item.get("primary", False), bool) or not isinstance(item.get("label", ""), str):
                raise ApiError(400, f"{name}: primary must be true or false and label a string.")
            primary = item.get("primary") is True
            value = item.get("value")
        if not isinstance(value, str) or not re.fullmatch(pattern, value, flags=re.DOTALL):
            raise ApiError(400, f"{name}: {value!r} is not a valid value.")
        _check_encodable(value, name)
        out.append((value, primary))
    return out


def _check_encodable(value: str, name: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from a JSON \ud800 escape
        raise ApiError(400, f"{name} is not valid text.") from exc


def check_text(value: str, name: str, *, max_length: int) -> None:
    """Free text that may be empty: no NUL (PostgreSQL cannot store it), valid, bounded."""
    if "\x00" in value:
        raise ApiError(400, f"{name} must not contain NUL characters.")
    _check_encodable(value, name)
    if len(value) > max_length:
        raise ApiError(400, f"{name} is longer than {max_length} characters.")
