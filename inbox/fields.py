from __future__ import annotations

import json
from typing import Any

from django.db import models

from inbox import crypto


class EncryptedToken(str):
    """A value that is already a Fernet token (key rotation): stored as it is."""


class EncryptedJSONField(models.TextField):
    """A JSON value stored as a Fernet token; the database never sees the plaintext."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return {}
        return json.loads(crypto.decrypt(value))

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
