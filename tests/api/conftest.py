"""Fixtures for the API tests: tokens for alice, bob and carol, and a small JSON client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from accounts.models import User
from api.tokens import issue_token

BASE = "/api/v1"


@dataclass
class Reply:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        return self.body["data"]

    @property
    def pagination(self) -> dict[str, Any]:
        """v1 offset pagination under ``additional_data.pagination`` (threads, deals, …)."""
        return self.body["additional_data"]["pagination"]

    @property
    def flat_pagination(self) -> dict[str, Any]:
        """v1 offset pagination straight in ``additional_data`` (leads, record mail)."""
        assert "pagination" not in self.body["additional_data"]
        return self.body["additional_data"]


class Api:
    """Calls /api/v1 (or ``base``) as one user, with the token as Pipedrive clients send it:
    ``?api_token=`` by default, or an ``Authorization: Bearer`` or ``x-api-token`` header."""

    def __init__(
        self,
        client: Client,
        token: str | None,
        *,
        bearer: bool = False,
        header: bool = False,
        base: str = BASE,
    ) -> None:
        self.client = client
        self.token = token
        self.bearer = bearer
        self.header = header
        self.base = base

    def _url(self, path: str, params: dict[str, Any] | None) -> str:
        query = dict(params or {})
        if self.token is not None and not self.bearer and not self.header:
            query["api_token"] = self.token
        return f"{self.base}{path}" + (f"?{urlencode(query)}" if query else "")

    def _headers(self) -> dict[str, str]:
        if self.token and self.header:
            return {"x-api-token": self.token}
        return {"Authorization": f"Bearer {self.token}"} if self.bearer and self.token else {}

    def _reply(self, response: Any) -> Reply:
        assert response["Content-Type"] == "application/json", response.content[:300]
        return Reply(response.status_code, json.loads(response.content))

    def get(self, path: str, **params: Any) -> Reply:
        return self._reply(self.client.get(self._url(path, params), headers=self._headers()))

    def delete(self, path: str) -> Reply:
        return self._reply(self.client.delete(self._url(path, None), headers=self._headers()))

    def put(self, path: str, data: dict[str, Any], *, form: bool = False) -> Reply:
        return self._send("put", path, data, form)

    def post(self, path: str, data: dict[str, Any], *, form: bool = False) -> Reply:
        return self._send("post", path, data, form)

    def patch(self, path: str, data: dict[str, Any]) -> Reply:
        return self._send("patch", path, data, False)

    def _send(self, method: str, path: str, data: dict[str, Any], form: bool) -> Reply:
        if form:
            body, content_type = urlencode(data), "application/x-www-form-urlencoded"
        else:
            body, content_type = json.dumps(data), "application/json"
        send = getattr(self.client, method)
        return self._reply(
            send(self._url(path, None), body, content_type=content_type, headers=self._headers())
        )


def api_for(user: User, **kwargs: Any) -> Api:
    return Api(Client(), issue_token(user), **kwargs)


@pytest.fixture
def alice_api(alice: User) -> Api:
    return api_for(alice)


@pytest.fixture
def bob_api(bob: User) -> Api:
    return api_for(bob)


@pytest.fixture
def carol_api(carol: User) -> Api:
    return api_for(carol)


def assert_error(reply: Reply, status: int) -> None:
    """Pipedrive's error envelope with the right status."""
    assert reply.status == status, reply.body
    assert reply.body["success"] is False
    assert isinstance(reply.body["error"], str) and reply.body["error"]
    assert reply.body["error_info"]
    assert reply.body["errorCode"] == status
