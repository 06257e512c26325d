"""CSRF and safe methods, swept over every URL pattern (as the isolation sweep does).

- GET on any route changes nothing in the database (state changes are POST-only);
- a POST without a CSRF token from a signed-in browser session is refused with 403 and
  changes nothing, on every route but Microsoft's OAuth callback (its ``state`` is the
  check, tested here too);
- the API ignores the session cookie (401, nothing changes) and its token auth needs no
  CSRF token.

Routes whose parameters the sweep cannot fill fail the sweep, so new routes are covered.
"""

from __future__ import annotations

from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from api.tokens import issue_token
from inbox import services
from inbox.models import Conversation, ProviderChange
from inbox.services.compose import ComposeInput, save_draft, send_message
from tests.factories import (
    DealFactory,
    LeadFactory,
    OrganizationFactory,
    ProjectFactory,
    add_person,
    parsed,
    receive,
    switches,
)

pytestmark = pytest.mark.django_db

# Bookkeeping that a request may touch without changing anything a user sees or acts on:
# the session row (a toast popped, the CSRF secret rotated) and the API token's last-used time.
UNWATCHED_TABLES = {"django_session", "api_apitoken"}
# The only route that accepts a POST without a CSRF token, and why.
CSRF_EXEMPT = {
    # Microsoft posts the OAuth answer from its own site (response_mode=form_post); the
    # answer's state, checked against the flow kept in the session, plays the token's part.
    "connect:microsoft_callback",
}
# Token-authenticated API routes (/api/v1/, /api/v2/, and the /api catch-all): a session
# cookie is never a credential there.
API_NAMESPACES = ("api", "api_v2")
API_TOP_LEVEL = {"api_openapi", "api_not_found"}
# The published OpenAPI document: public, read-only, CSRF-exempt; other methods get a 405
# envelope (never an HTML CSRF page).
OPENAPI = {"api:openapi", "api_v2:openapi", "api_openapi"}


def _is_api(name: str) -> bool:
    return name.split(":")[0] in API_NAMESPACES or name in API_TOP_LEVEL


# Admin pages need model arguments; the admin's CSRF protection is Django's own.
SKIPPED_PREFIXES = ("admin/",)


def _routes() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []

    def walk(resolver: URLResolver, namespace: str, prefix: str) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                path = prefix + str(entry.pattern)
                if path.startswith(SKIPPED_PREFIXES):
                    continue
                walk(entry, ":".join(filter(None, [namespace, entry.namespace or ""])), path)
            elif isinstance(entry, URLPattern) and entry.name:
                name = f"{namespace}:{entry.name}" if namespace else entry.name
                groups = entry.pattern.regex.groupindex  # path() and re_path() alike
                params = [p for p in groups if p not in entry.default_args]
                found.append((name, params))

    walk(get_resolver(), "", "")
    return found


ROUTES = _routes()


def _kept_attachment(message_pk: int, alice) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """A kept (already fetched) image attachment: opening it changes nothing, so a GET that
    did would show. Returns its id and a signed inline token for it."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from inbox.attachments import inline_token
    from inbox.models import Attachment, Message

    message = Message.objects.get(pk=message_pk)
    attachment = Attachment.objects.create(
        message=message, account_id=message.account_id, filename="chart.png", content_type="image/png", size=4
    )
    attachment.file.name = default_storage.save(f"attachments/csrf/{attachment.pk}", ContentFile(b"\x89PNG"))
    attachment.kept_size = 4
    attachment.save(update_fields=["file", "kept_size"])
    return attachment.pk, inline_token(alice, attachment)


@pytest.fixture
def world(alice, bob, acme, alice_mailbox, sales_mailbox, settings, tmp_path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Alice's mail, a team mailbox, records, links and a failed provider change: every
    route has something real to act on, so a refused request is refused, not a no-op."""
    switches(alice, archive=True, delete=True)
    org = OrganizationFactory(company=acme, name="Client AB")
    person = add_person(acme, "Dana", "dana@client.test", organization=org)
    deal = DealFactory(company=acme, title="Deal")
    lead = LeadFactory(company=acme, title="Lead")
    project = ProjectFactory(company=acme, title="Project")
    first = receive(
        alice_mailbox, parsed(subject="one", sender="dana@client.test", to=(alice_mailbox.address,))
    )
    second = receive(
        alice_mailbox, parsed(subject="two", sender="dana@client.test", to=(alice_mailbox.address,))
    )
    receive(sales_mailbox, parsed(subject="team", to=(sales_mailbox.address,)))
    services.link_deal(alice, first.conversation_id, deal.pk)
    services.archive_conversations(alice, [second.conversation_id])
    ProviderChange.objects.filter(account=alice_mailbox).update(status="failed", last_error="boom")
    Conversation.objects.update(is_read=True)  # opening a conversation marks it read: already so
    # allauth records the sign-in address on first sight of its e-mail page: already so.
    EmailAddress.objects.create(user=alice, email=alice.email, primary=True, verified=True)
    settings.MEDIA_ROOT = tmp_path / "attachments"
    attachment_id, inline = _kept_attachment(first.message_id, alice)
    draft = save_draft(alice, ComposeInput(account_id=alice_mailbox.pk, to="dana@client.test", subject="d"))
    outgoing = send_message(
        alice, ComposeInput(account_id=alice_mailbox.pk, to="dana@client.test", subject="s", html="x")
    )
    return {
        "attachment_id": attachment_id,
        "token": inline,
        "draft_id": draft.pk,
        "outgoing_id": outgoing.pk,
        "conversation_id": first.conversation_id,
        "thread_id": first.conversation_id,
        "message_id": first.message_id,
        "account_id": alice_mailbox.pk,
        "change_id": ProviderChange.objects.filter(account=alice_mailbox).first().pk,  # type: ignore[union-attr]
        "deal_id": deal.pk,
        "lead_id": lead.pk,
        "person_id": person.pk,
        "organization_id": org.pk,
        "project_id": project.pk,
        "object_id": deal.pk,
        "kind": "deal",
        "folder": "archive",
        "team_account_id": sales_mailbox.pk,
        "archived_id": second.conversation_id,
        "key": "forged-key",  # allauth's e-mail confirmation and password reset
        "uidb36": "1",
    }


def _urls(world: dict[str, Any]) -> list[tuple[str, str]]:
    urls = []
    for name, params in ROUTES:
        missing = [p for p in params if p not in world]
        assert not missing, f"{name}: give the sweep a value for {missing}"
        urls.append((name, reverse(name, kwargs={p: world[p] for p in params})))
    return urls


def _db_state() -> dict[str, str]:
    state = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if table in UNWATCHED_TABLES:
                continue
            rows = "coalesce(string_agg(t::text, '|' ORDER BY t::text), '')"
            query = f'SELECT md5({rows}) FROM "{table}" t'  # noqa: S608 (names from introspection)
            cursor.execute(query)
            state[table] = cursor.fetchone()[0]
    return state


def _changed(before: dict[str, str]) -> list[str]:
    after = _db_state()
    return sorted(table for table in after if after[table] != before.get(table))


def _form(world: dict[str, Any]) -> dict[str, Any]:
    """A body that would make each view act (archive, delete, link, switches on, …)."""
    return {
        "action": "delete",
        "ids": [world["conversation_id"], world["archived_id"]],
        "confirm": "1",
        "confirmed": "1",
        "target": "deal",
        "kind": "deal",
        "object_id": world["deal_id"],
        "deal_id": world["deal_id"],
        "archive": "on",
        "delete": "on",
        "archive_in_provider": "on",
        "delete_in_provider": "on",
        "remove_mail": "1",
        "keep_mail": "0",
        "read": "1",
        "members": [],
        "login": "alice@acme.test",
        "password": "pw-123456789",
        "state": "forged",
        "code": "forged",
    }


def test_every_route_is_mapped(world):
    assert len(_urls(world)) > 30


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_get_changes_nothing_on_any_route(alice, world):
    client = Client()
    client.force_login(alice)
    before = _db_state()
    answered = 0
    for name, url in _urls(world):
        suffix = f"?api_token={issue_token(alice)}" if _is_api(name) else ""
        before_token = _db_state() if suffix else before  # issuing a token is a write of its own
        response = client.get(url + suffix)
        assert response.status_code < 500, f"GET {url}: {response.status_code}"
        assert _changed(before_token) == [], f"GET {url} changed the database"
        answered += response.status_code == 200
        before = _db_state()
    assert answered > 20


def test_a_post_without_csrf_token_is_refused_on_every_route_and_changes_nothing(alice, world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = _db_state()
    refused = []
    for name, url in _urls(world):
        if name in CSRF_EXEMPT:
            continue
        response = client.post(url, _form(world))
        if _is_api(name):
            # Token routes answer 401 (the cookie is no credential); the static OpenAPI document
            # takes no writes at all (405).
            expected = 405 if name in OPENAPI else 401
            assert response.status_code == expected, f"POST {url} with a cookie: {response.status_code}"
        else:
            assert response.status_code == 403, f"POST {url} without CSRF token: {response.status_code}"
            refused.append(name)
    assert _changed(before) == []
    assert {"inbox:bulk_action", "inbox:delete_message", "email_sync:disconnect", "connect:imap"} <= set(
        refused
    )


def test_the_same_post_with_a_csrf_token_does_act(alice, world):
    # The sweep's body is not a no-op: with the token, bulk delete deletes.
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get(reverse("inbox:folder"))
    token = client.cookies[django_settings.CSRF_COOKIE_NAME].value
    response = client.post(
        reverse("inbox:bulk_action"), {**_form(world), "csrfmiddlewaretoken": token}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert not Conversation.objects.filter(pk=world["conversation_id"]).exists()


def test_the_microsoft_callback_without_csrf_token_acts_only_on_a_matching_state(alice, world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = _db_state()
    response = client.post(reverse("connect:microsoft_callback"), {"code": "forged", "state": "forged"})
    assert response.status_code in (200, 302, 400, 404)
    assert _changed(before) == []


def test_api_writes_with_a_token_need_no_csrf_token_and_other_methods_never_fall_back_to_cookies(
    alice, world
):
    cookie = Client(enforce_csrf_checks=True)
    cookie.force_login(alice)
    token = issue_token(alice)
    before = _db_state()
    api_urls = [(name, url) for name, url in _urls(world) if _is_api(name)]
    assert {"api_v2:deal_detail", "api_v2:person_detail", "api_v2:organization_detail"} <= {
        n for n, _ in api_urls
    }
    for name, url in api_urls:
        for method in ("put", "patch", "delete"):
            response = getattr(cookie, method)(url, {"title": "x"}, content_type="application/json")
            expected = 405 if name in OPENAPI else 401
            assert response.status_code == expected, f"{method.upper()} {url} with a session cookie"
    assert _changed(before) == []
    scripted = Client(enforce_csrf_checks=True)
    response = scripted.post(
        f"/api/v1/deals?api_token={token}", {"title": "Scripted"}, content_type="application/json"
    )
    assert response.status_code == 201
