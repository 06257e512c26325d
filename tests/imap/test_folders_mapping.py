"""The folder mapping on the mailbox status page, and the form where the owner (or a company
admin, for a team mailbox) picks each role's folder from the server's own list — audited,
and used by the next push. Against a real Dovecot whose folders had to be guessed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse

from inbox import services
from inbox.models import AuditEvent, Conversation, MailAccount
from sync.folder_settings import AUDIT_ACTION
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


@pytest.fixture
def guessed(dovecot_fallback: Dovecot, acme, alice, bob) -> Iterator[ImapSetup]:  # type: ignore[no-untyped-def]
    """Alice's mailbox on a server without special-use flags: every role was guessed."""
    setup = make_setup(dovecot_fallback, "personal", acme=acme, alice=alice, bob=bob)
    with setup.client() as client:
        client.create_folder("Clients")
        client.create_folder("Clients/Archive")
    yield setup
    setup.close()


@pytest.fixture
def team(dovecot_fallback: Dovecot, acme, alice, bob) -> Iterator[ImapSetup]:  # type: ignore[no-untyped-def]
    setup = make_setup(dovecot_fallback, "team", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


def _signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _url(account: MailAccount) -> str:
    return reverse("connect:imap_folders", kwargs={"account_id": account.pk})


def _form(account: MailAccount, **chosen: str) -> dict[str, str]:
    folders = account.config["folders"]
    return {role: chosen.get(role, folders.get(role) or "") for role in ("sent", "archive", "trash")}


def test_status_page_shows_the_mapping_with_guesses_marked(guessed: ImapSetup, alice):  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/")
    request.user = alice
    html = Template("{% load imap_folders %}{% imap_folder_map account %}").render(
        Context({"account": guessed.account, "request": request})
    )

    assert 'data-role="archive"' in html and "Archives" in html and "Deleted Items" in html
    assert html.count("data-guessed") == 3
    assert _url(guessed.account) in html  # the owner may change it


def test_owner_picks_another_archive_folder_and_the_next_push_uses_it(guessed: ImapSetup, alice):  # type: ignore[no-untyped-def]
    client = _signed_in(alice)
    page = client.get(_url(guessed.account))
    assert page.status_code == 200
    assert '<option value="Clients/Archive">' in page.content.decode()

    response = client.post(_url(guessed.account), _form(guessed.account, archive="Clients/Archive"))

    assert response.status_code == 302
    guessed.account.refresh_from_db()
    assert guessed.account.config["folders"]["archive"] == "Clients/Archive"
    assert guessed.account.config["folder_guessed"] == {"sent": False, "archive": False, "trash": False}
    event = AuditEvent.objects.get(account=guessed.account, action=AUDIT_ACTION)
    assert event.actor == alice and "Archive: Archives → Clients/Archive" in event.summary
    assert event.details["folders"]["archive"] == {"from": "Archives", "to": "Clients/Archive"}

    question = guessed.deliver(subject="Goes to the chosen folder")
    guessed.pull()
    guessed.switches(archive=True)
    conversation = Conversation.objects.get(account=guessed.account, subject="Goes to the chosen folder")
    services.archive_conversations(guessed.actor, [conversation.pk])
    guessed.push()
    assert guessed.ids("Clients/Archive") == [question] and guessed.ids("Archives") == []


def test_a_folder_the_server_does_not_have_is_refused_and_nothing_changes(guessed: ImapSetup, alice):  # type: ignore[no-untyped-def]
    before = dict(guessed.account.config)

    response = _signed_in(alice).post(_url(guessed.account), _form(guessed.account, archive="Made up"))

    assert response.status_code == 400
    guessed.account.refresh_from_db()
    assert guessed.account.config == before
    assert not AuditEvent.objects.filter(action=AUDIT_ACTION).exists()


def test_one_folder_cannot_play_two_roles(guessed: ImapSetup, alice):  # type: ignore[no-untyped-def]
    """Archiving into Trash would be a delete."""
    response = _signed_in(alice).post(_url(guessed.account), _form(guessed.account, archive="Deleted Items"))

    assert response.status_code == 400
    assert "one role only" in response.content.decode()
    guessed.account.refresh_from_db()
    assert guessed.account.config["folders"]["archive"] == "Archives"


def test_team_mailbox_folders_are_changed_by_a_company_admin_only(team: ImapSetup, alice, bob, carol):  # type: ignore[no-untyped-def]
    url = _url(team.account)
    assert _signed_in(bob).get(url).status_code == 403  # a member, not an admin
    assert _signed_in(bob).post(url, _form(team.account, archive="")).status_code == 403
    assert _signed_in(carol).get(url).status_code == 404  # another company
    assert _signed_in(alice).get(url).status_code == 200

    response = _signed_in(alice).post(url, _form(team.account, archive=""))

    assert response.status_code == 302
    team.account.refresh_from_db()
    assert team.account.config["folders"]["archive"] is None
    assert AuditEvent.objects.get(account=team.account, action=AUDIT_ACTION).actor == alice


def test_an_unreachable_server_shows_why_and_changes_nothing(guessed: ImapSetup, alice):  # type: ignore[no-untyped-def]
    from tests.ports import free_port

    guessed.account.config = {**guessed.account.config, "port": free_port()}
    guessed.account.save(update_fields=["config"])
    client = _signed_in(alice)

    page = client.get(_url(guessed.account))
    response = client.post(_url(guessed.account), _form(guessed.account, archive="Clients/Archive"))

    assert page.status_code == 200 and "could not be read from the mail server" in page.content.decode()
    assert response.status_code == 503
    guessed.account.refresh_from_db()
    assert guessed.account.config["folders"]["archive"] == "Archives"


def test_a_reconnect_to_the_same_server_keeps_the_folders_a_person_chose(guessed: ImapSetup, alice):  # type: ignore[no-untyped-def]
    client = _signed_in(alice)
    client.post(_url(guessed.account), _form(guessed.account, archive="Clients/Archive"))
    config = guessed.account.config
    form = {
        "address": guessed.account.address, "host": "127.0.0.1", "port": str(guessed.user.server.port),
        "security": "none", "login": guessed.user.login, "password": guessed.user.password,
        "kind": "personal", "account": str(guessed.account.pk),
    }  # fmt: skip

    response = client.post(reverse("connect:imap"), form)

    assert response.status_code == 302
    guessed.account.refresh_from_db()
    assert guessed.account.config["folders"]["archive"] == "Clients/Archive"
    assert guessed.account.config["folder_guessed"]["archive"] is False
    assert config["host"] == guessed.account.config["host"]
