"""Token auth: query parameter or Bearer header, hashed at rest, never the session cookie."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from api.models import ApiToken
from api.tokens import issue_token, revoke_token
from crm.models import Deal
from tests.api.conftest import Api, assert_error

pytestmark = pytest.mark.django_db


def test_missing_token_gets_pipedrive_401_envelope(alice):
    reply = Api(Client(), None).get("/deals")
    assert_error(reply, 401)
    assert reply.body["error"] == "unauthorized access"
    assert reply.body["data"] is None


@pytest.mark.parametrize("bearer", [False, True])
def test_wrong_token_gets_401_either_way(alice, bearer):
    issue_token(alice)
    assert_error(Api(Client(), "0" * 40, bearer=bearer).get("/deals"), 401)


@pytest.mark.parametrize("bearer", [False, True])
def test_token_works_as_query_parameter_and_as_bearer_header(alice, bearer):
    reply = Api(Client(), issue_token(alice), bearer=bearer).get("/deals")
    assert reply.status == 200 and reply.body["success"] is True


def test_other_authorization_schemes_are_not_a_fallback(alice):
    token = issue_token(alice)
    response = Client().get(
        f"/api/v1/deals?api_token={token}", headers={"Authorization": "Basic Zm9vOmJhcg=="}
    )
    assert response.status_code == 401


def test_token_is_stored_only_as_a_sha256_digest(alice):
    token = issue_token(alice)
    row = ApiToken.objects.get(user=alice)
    assert row.digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {row.digest, row.hint} and row.hint == token[-4:]
    assert len(token) == 40


def test_new_token_replaces_the_old_and_revoking_stops_it(alice):
    old = issue_token(alice)
    new = issue_token(alice)
    assert_error(Api(Client(), old).get("/deals"), 401)
    assert Api(Client(), new).get("/deals").status == 200
    revoke_token(alice)
    assert_error(Api(Client(), new).get("/deals"), 401)


def test_inactive_user_token_stops_working(alice):
    token = issue_token(alice)
    alice.is_active = False
    alice.save()
    assert_error(Api(Client(), token).get("/deals"), 401)


def test_session_cookie_alone_is_not_accepted(alice):
    client = Client()
    client.force_login(alice)
    assert_error(Api(client, None).get("/deals"), 401)
    assert_error(Api(client, None).post("/deals", {"title": "Via cookie"}), 401)
    assert not Deal.objects.filter(title="Via cookie").exists()


def test_token_writes_need_no_csrf_token_but_cookie_writes_get_nothing(alice):
    """A cross-site form carries cookies, not the token: it gets a 401 and changes nothing."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert_error(Api(client, None).post("/deals", {"title": "Forged"}, form=True), 401)
    reply = Api(client, issue_token(alice)).post("/deals", {"title": "Scripted"})
    assert reply.status == 201
    assert list(Deal.objects.values_list("title", flat=True)) == ["Scripted"]


def test_last_used_is_recorded(alice):
    token = issue_token(alice)
    assert ApiToken.objects.get(user=alice).last_used_at is None
    Api(Client(), token).get("/deals")
    assert ApiToken.objects.get(user=alice).last_used_at is not None


def test_create_api_token_command_prints_a_working_token(alice):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "ALICE@acme.test", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert len(token) == 40 and err.getvalue() == ""
    assert Api(Client(), token).get("/deals").status == 200
    call_command("create_api_token", "alice@acme.test", stdout=io.StringIO(), stderr=err)
    assert "no longer works" in err.getvalue()
    assert_error(Api(Client(), token).get("/deals"), 401)


def test_create_api_token_command_refuses_unknown_users(db):
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "nobody@nowhere.test", stdout=io.StringIO())


def test_unknown_api_path_is_an_envelope_404_and_needs_a_token(alice_api):
    assert_error(alice_api.get("/activities"), 404)
    assert_error(Api(Client(), None).get("/activities"), 401)


def test_unsupported_method_is_405_with_allow_header(alice_api):
    response = alice_api.client.patch(f"/api/v1/deals?api_token={alice_api.token}")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
