"""Token auth: x-api-token header, Bearer header or query parameter, hashed at rest, never the
session cookie; errors anywhere under /api/ in Pipedrive's JSON envelope."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from api.models import ApiToken
from api.tokens import issue_token, revoke_token
from crm.models import Deal
from tests.api.conftest import Api, assert_error
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def test_missing_token_gets_pipedrive_401_envelope(alice):
    reply = Api(Client(), None).get("/deals")
    assert_error(reply, 401)
    assert reply.body["error"] == "unauthorized access"
    assert reply.body["data"] is None


WAYS = [{}, {"bearer": True}, {"header": True}]
WAY_IDS = ["api_token", "bearer", "x-api-token"]


@pytest.mark.parametrize("way", WAYS, ids=WAY_IDS)
@pytest.mark.parametrize("base", ["/api/v1", "/api/v2"])
def test_wrong_token_gets_401_every_way(alice, way, base):
    issue_token(alice)
    assert_error(Api(Client(), "0" * 40, base=base, **way).get("/deals"), 401)


@pytest.mark.parametrize("way", WAYS, ids=WAY_IDS)
@pytest.mark.parametrize("base", ["/api/v1", "/api/v2"])
def test_token_works_in_the_header_as_bearer_and_as_query_parameter(alice, way, base):
    reply = Api(Client(), issue_token(alice), base=base, **way).get("/deals")
    assert reply.status == 200 and reply.body["success"] is True


def test_x_api_token_header_decides_when_present(alice, bob):
    """The header Pipedrive's clients send comes first; a wrong one is not rescued by a
    right token elsewhere in the request (nor does a right one pick up someone else's)."""
    alice_token, bob_token = issue_token(alice), issue_token(bob)
    wrong = Client().get(f"/api/v1/deals?api_token={alice_token}", headers={"x-api-token": "0" * 40})
    assert wrong.status_code == 401
    both = Client().get(
        "/api/v2/deals",
        headers={"x-api-token": alice_token, "Authorization": f"Bearer {bob_token}"},
    )
    assert both.status_code == 200
    DealFactory(company=alice.company, title="Alice's company")
    as_alice = Client().get(f"/api/v2/deals?api_token={bob_token}", headers={"x-api-token": alice_token})
    assert as_alice.status_code == 200 and as_alice.json()["data"][0]["title"] == "Alice's company"


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


@pytest.mark.parametrize(
    "path",
    [
        *("/api/v2/activities", "/api/v2/leads", "/api/v3/deals", "/api/deals"),
        *("/api", "/api/", "/api/v1", "/api/v2/"),
    ],
)
def test_every_unknown_path_under_api_is_a_json_envelope_never_html(alice, path):
    token = issue_token(alice)
    for headers in ({"x-api-token": token}, {}):
        response = Client().get(path, headers=headers)
        assert response["Content-Type"] == "application/json", response.content[:200]
        body = response.json()
        assert body["success"] is False and body["error"] and body["error_info"]
        assert response.status_code == (404 if headers else 401)


def test_django_errors_under_api_are_json_and_html_elsewhere(rf):
    from api.views import docs

    for handler, status in (
        (lambda r: docs.bad_request(r, Exception()), 400),
        (lambda r: docs.permission_denied(r, Exception()), 403),
        (lambda r: docs.page_not_found(r, Exception()), 404),
        (docs.server_error, 500),
    ):
        api = handler(rf.get("/api/v2/deals"))
        assert api.status_code == status and api["Content-Type"] == "application/json"
        assert json.loads(api.content)["errorCode"] == status
        page = handler(rf.get("/inbox/"))
        assert page.status_code == status and page["Content-Type"].startswith("text/html")


def test_an_oversized_body_under_api_is_a_json_400(alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    token = issue_token(alice)
    response = Client().post(
        "/api/v2/deals", "x" * 500, content_type="application/json", headers={"x-api-token": token}
    )
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json()["success"] is False
    assert not Deal.objects.exists()


def test_openapi_document_refuses_writes_in_the_envelope():
    response = Client().post("/api/openapi.json")
    assert response.status_code == 405 and response.json()["success"] is False


def test_unsupported_method_is_405_with_allow_header(alice_api):
    response = alice_api.client.patch(f"/api/v1/deals?api_token={alice_api.token}")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
