"""The isolation sweep: every URL and API route that takes an object id, called as
carol (another company), as bob on alice's private mailbox, and as bob on a team mailbox
he is not a member of — always refused, never a byte of the data, never a change.

A new route with an id parameter this sweep does not know fails the sweep until it is
mapped below, so coverage cannot silently fall behind the URLconf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from inbox import services
from inbox.models import AuditEvent, Conversation, Draft, Message, OutgoingMessage, ProviderChange, Tombstone
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
    team_account,
)

pytestmark = pytest.mark.django_db

MARKER = "ACME-PRIVATE-7731"
REFUSED = {403, 404, 405}
# Parameter name -> which object of the victim's it takes.
PARAMETERS = {
    "conversation_id": "conversation",
    "thread_id": "conversation",
    "message_id": "message",
    "attachment_id": "attachment",
    "change_id": "change",
    "account_id": "account",
    "deal_id": "deal",
    "lead_id": "lead",
    "person_id": "person",
    "organization_id": "organization",
    "project_id": "project",
    "draft_id": "draft",
    "outgoing_id": "outgoing",
}
# Token-authenticated routes: /api/v1/ and /api/v2/.
API_NAMESPACES = ("api", "api_v2")
CRM_KINDS = ("deal", "lead", "project", "person", "organization")
MAIL_OBJECTS = {"conversation", "message", "change", "account", "attachment", "draft", "outgoing"}


@dataclass(frozen=True)
class Route:
    name: str
    params: tuple[str, ...]
    defaults: tuple[tuple[str, Any], ...]

    @property
    def is_api(self) -> bool:
        return self.name.split(":")[0] in API_NAMESPACES


def _routes() -> list[Route]:
    found: list[Route] = []

    def walk(resolver: URLResolver, namespace: str) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                if str(entry.pattern).startswith("admin/"):
                    continue  # the admin has its own staff and company checks, tested there
                child = ":".join(filter(None, [namespace, entry.namespace or ""]))
                walk(entry, child)
            elif isinstance(entry, URLPattern) and entry.name:
                params = tuple(getattr(entry.pattern, "converters", {}))
                if any(p.endswith("_id") for p in params):
                    name = f"{namespace}:{entry.name}" if namespace else entry.name
                    found.append(Route(name, params, tuple(sorted(entry.default_args.items()))))

    walk(get_resolver(), "")
    return found


ROUTES = _routes()


def _kept_attachment(message_pk: int) -> int:
    """An attachment of the message whose bytes are already kept (so a leak would serve
    them rather than fail at a provider that is not there)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from inbox.models import Attachment

    message = Message.objects.get(pk=message_pk)
    attachment = Attachment.objects.create(
        message=message,
        account_id=message.account_id,
        filename=f"{MARKER}.png",
        content_type="image/png",
        size=20,
        part="2",
    )
    attachment.file.name = default_storage.save(
        f"attachments/sweep/{attachment.pk}", ContentFile(MARKER.encode())
    )
    attachment.kept_size = len(MARKER)
    attachment.save(update_fields=["file", "kept_size"])
    return attachment.pk


@pytest.fixture
def victim(alice, bob, acme, alice_mailbox, settings, tmp_path):  # type: ignore[no-untyped-def]
    """Alice's private mail (and a team mailbox bob is not in), linked to Acme's records."""
    settings.MEDIA_ROOT = tmp_path / "attachments"
    switches(alice, archive=True)
    org = OrganizationFactory(company=acme, name=f"{MARKER} Org")
    person = add_person(acme, f"{MARKER} Dana", "dana@client.test", organization=org)
    deal = DealFactory(company=acme, title=f"{MARKER} deal")
    lead = LeadFactory(company=acme, title=f"{MARKER} lead")
    project = ProjectFactory(company=acme, title=f"{MARKER} project")
    result = receive(
        alice_mailbox,
        parsed(
            subject=f"{MARKER} pricing",
            sender="dana@client.test",
            to=(alice_mailbox.address,),
            text=f"{MARKER} body",
        ),
    )
    services.link_deal(alice, result.conversation_id, deal.pk)
    services.link_project(alice, result.conversation_id, project.pk)
    services.archive_conversations(alice, [result.conversation_id])
    draft = save_draft(
        alice, ComposeInput(account_id=alice_mailbox.pk, to="dana@client.test", subject=f"{MARKER} draft")
    )
    outgoing = send_message(
        alice,
        ComposeInput(account_id=alice_mailbox.pk, to="dana@client.test", subject=f"{MARKER} sent", html="x"),
    )
    support = team_account(acme, [alice], address="support@acme.test")
    team_result = receive(support, parsed(subject=f"{MARKER} team", to=("support@acme.test",)))
    return {
        "personal": {
            "conversation": result.conversation_id,
            "message": result.message_id,
            "attachment": _kept_attachment(result.message_id),
            "change": ProviderChange.objects.filter(account=alice_mailbox).order_by("id").first().pk,  # type: ignore[union-attr]
            "draft": draft.pk,
            "outgoing": outgoing.pk,
            "account": alice_mailbox.pk,
            "deal": deal.pk,
            "lead": lead.pk,
            "person": person.pk,
            "organization": org.pk,
            "project": project.pk,
        },
        "team": {
            "conversation": team_result.conversation_id,
            "message": team_result.message_id,
            "attachment": _kept_attachment(team_result.message_id),
            "account": support.pk,
        },
    }


def _snapshot() -> tuple[object, ...]:
    return (
        list(
            Conversation.objects.order_by("id").values_list(
                "id", "state", "deal_id", "lead_id", "shared", "is_read"
            )
        ),
        list(Message.objects.order_by("id").values_list("id", "conversation_id")),
        list(ProviderChange.objects.order_by("id").values_list("id", "status", "attempts")),
        list(
            Conversation.projects.through.objects.order_by("id").values_list("conversation_id", "project_id")
        ),
        Tombstone.objects.count(),
        AuditEvent.objects.count(),
        list(Draft.objects.order_by("id").values_list("id", "subject", "html")),
        list(OutgoingMessage.objects.order_by("id").values_list("id", "state", "stage")),
    )


def _calls(route: Route, objects: dict[str, int], *, mail_only: bool) -> list[str]:
    """Every URL for this route that points at one of the victim's objects."""
    defaults = dict(route.defaults)
    kinds = (
        [defaults["kind"]] if "kind" in defaults else list(CRM_KINDS) if "kind" in route.params else [None]
    )
    urls = []
    for kind in kinds:
        kwargs: dict[str, Any] = {}
        usable = True
        for param in route.params:
            if param == "kind":
                if "kind" not in defaults:
                    kwargs["kind"] = kind
                continue
            target = PARAMETERS.get(param) or (kind if param == "object_id" else None)
            if target is None:
                pytest.fail(f"{route.name}: map the parameter {param!r} in PARAMETERS")
            if target not in objects or (mail_only and target not in MAIL_OBJECTS):
                usable = False
                break
            kwargs[param] = objects[target]
        if usable:
            urls.append(reverse(route.name, kwargs=kwargs))
    return urls


def _client_for(user, route: Route):  # type: ignore[no-untyped-def]
    client = Client()
    if route.is_api:
        from api.tokens import issue_token

        return client, {"api_token": issue_token(user)}
    client.force_login(user)
    return client, {}


def _sweep(user, objects: dict[str, int], *, mail_only: bool) -> int:  # type: ignore[no-untyped-def]
    before = _snapshot()
    checked = 0
    for route in ROUTES:
        client, query = _client_for(user, route)
        for url in _calls(route, objects, mail_only=mail_only):
            for method in ("get", "post", "put", "patch", "delete"):
                body = {
                    "action": "delete",
                    "ids": objects.get("conversation"),
                    "target": "deal",
                    "object_id": objects.get("deal"),
                    "archived_flag": 0,
                    "deal_id": objects.get("deal"),
                }
                target = url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
                if method == "get":
                    response = client.get(target)
                elif method == "post":
                    response = client.post(target, {k: v for k, v in body.items() if v is not None})
                elif method == "patch":
                    # An empty change: nothing in it is refused as unsupported, so only the
                    # ownership check stands between the caller and the record.
                    response = client.patch(target, {}, content_type="application/json")
                else:
                    response = getattr(client, method)(target, body, content_type="application/json")
                raw = b"".join(response.streaming_content) if response.streaming else response.content
                content = raw.decode(errors="replace")
                assert MARKER not in content, f"{method.upper()} {url} leaked data to {user.email}"
                if method == "get":
                    assert response.status_code in REFUSED, f"GET {url} answered {response.status_code}"
                else:
                    assert response.status_code in REFUSED | {400}, f"{method} {url}: {response.status_code}"
                checked += 1
    assert _snapshot() == before, "a refused call changed something"
    return checked


def test_routes_with_ids_are_found():
    names = {r.name for r in ROUTES}
    assert {"inbox:conversation", "inbox:delete_message", "crm:deal"} <= names
    assert {"inbox:attachment", "inbox:attachments_zip", "api:file_download", "api:message_files"} <= names
    assert {"api_v2:deal_detail", "api_v2:person_detail", "api_v2:organization_detail"} <= names


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_carol_of_another_company_is_refused_everywhere(carol, victim):
    assert _sweep(carol, victim["personal"], mail_only=False) > 50


def test_bob_is_refused_on_alices_private_mailbox(bob, victim):
    assert _sweep(bob, victim["personal"], mail_only=True) > 10


def test_bob_is_refused_on_a_team_mailbox_he_is_not_in(bob, victim):
    assert _sweep(bob, victim["team"], mail_only=True) > 5


def test_the_sweep_would_catch_a_leak(alice, victim):
    # Alice may see her own mail: the same sweep run as her must trip on the marker.
    with pytest.raises(AssertionError, match=r"leaked data|answered 200"):
        _sweep(alice, victim["personal"], mail_only=True)
