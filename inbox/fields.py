from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute

if TYPE_CHECKING:
    from django.db.models.expressions import Combinable

from inbox import crypto


class EncryptedToken(str):
    """A value that is still a Fernet token: stored as it is, decrypted only when read."""


class _DecryptOnAccess(DeferredAttribute):
    """Rows carry their token; only code that reads the secret pays for (and sees) it."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        value = super().__get__(instance, cls)
        if instance is not None and isinstance(value, EncryptedToken):
            value = json.loads(crypto.decrypt(value)) if value else {}
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        # Being a data descriptor keeps __get__ in the path even once the value is loaded.
        instance.__dict__[self.field.attname] = value


class EncryptedJSONField(models.TextField):
    """A JSON value stored as a Fernet token; the database never sees the plaintext."""

    descriptor_class = _DecryptOnAccess
    if TYPE_CHECKING:
        # What django-stubs types a model's attribute as: a dict, not TextField's str.
        # (django-stubs' way for a field whose Python type is not its base class's.)
        _pyi_private_set_type: dict[str, Any] | Combinable  # type: ignore[assignment]
        _pyi_private_get_type: dict[str, Any]  # type: ignore[assignment]

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return EncryptedToken(value or "")

    def to_python(self, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        if value in (None, ""):
            return {}
        return json.loads(crypto.decrypt(value))

    def get_prep_value(self, value: Any) -> str:
        if isinstance(value, EncryptedToken):
            return str(value)
        return crypto.encrypt(json.dumps(value or {}, sort_keys=True))
