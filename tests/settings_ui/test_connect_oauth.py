""" "Connect Google" and "Connect Microsoft": the authorization-code flow with PKCE and
offline access, up to the token exchange, against local fakes (Google over HTTP, the
Microsoft identity platform over TLS), driven by the real requests, google-api-python-client
and msal — and the stored tokens then really sync."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import Plan
from inbox.models import AccountKind, AccountStatus, Conversation, MailAccount, Provider
from sync.providers.outlook import auth as graph_auth
from sync.pull import pull_account
from tests.factories import personal_account
from tests.fakes.gmail_server import MessageFactory
from tests.fakes.graph_server import FakeMicrosoft
from tests.settings_ui.conftest import set_plan
from tests.settings_ui.fake_google import FakeGoogle
from tests.settings_ui.test_settings_pages import html

pytestmark = pytest.mark.django_db

GMAIL = "alice.sales@gmail.test"


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def start(client: Client, provider: str, **data: object):  # type: ignore[no-untyped-def]
    data.setdefault("kind", "personal")
    return client.post(reverse(f"connect:{provider}"), data)


def google_round_trip(client: Client, google: FakeGoogle, **data: object):  # type: ignore[no-untyped-def]
    """Start, let the user sign in at the fake Google, come back to the callback."""
    started = start(client, "google", **data)
    assert started.status_code == 302, html(started)
    answer = google.browse(started["Location"])
    return client.get(reverse("connect:google_callback"), answer)


# --- configuration ---------------------------------------------------------------------------


def test_oauth_buttons_are_hidden_when_not_configured(as_alice: Client, no_oauth):
    page = html(as_alice.get(reverse("connect:page")))

    assert "Connect Google" not in page and "Connect Microsoft" not in page
    assert 'name="password"' in page  # IMAP is always there
    assert start(as_alice, "google").status_code == 404
    assert start(as_alice, "microsoft").status_code == 404


def test_oauth_buttons_show_when_configured(as_alice: Client, google: FakeGoogle, ms: FakeMicrosoft):
    page = html(as_alice.get(reverse("connect:page")))

    assert "Connect Google" in page and "Connect Microsoft" in page


# --- Google ------------------------------------------------------------------------------------


def test_google_asks_for_offline_access_the_gmail_scope_and_pkce(as_alice: Client, google: FakeGoogle):
    response = start(as_alice, "google", login_hint=GMAIL)

    assert response.status_code == 302
    assert response["Location"].startswith(google.auth_uri + "?")
    query = query_of(response["Location"])
    assert query["client_id"] == FakeGoogle.client_id and query["response_type"] == "code"
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["scope"] == "https://www.googleapis.com/auth/gmail.modify"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["redirect_uri"] == settings.SITE_URL.rstrip("/") + reverse("connect:google_callback")
    assert query["login_hint"] == GMAIL and len(query["state"]) >= 32


def test_connect_google_stores_the_refresh_token_for_the_address_gmail_reports(
    as_alice: Client, alice, google: FakeGoogle
):
    mailbox = google.add_mailbox(GMAIL)
    google.signed_in = GMAIL
    raw, _ = MessageFactory().make(subject="Quote for 40 seats", to=GMAIL)
    mailbox.deliver(raw)

    response = google_round_trip(as_alice, google)

    account = MailAccount.objects.get(provider=Provider.GMAIL)
    assert response.status_code == 302
    assert response["Location"] == reverse("email_sync:status", args=[account.pk])
    assert account.address == GMAIL and account.owner == alice and account.kind == AccountKind.PERSONAL
    assert account.credentials["refresh_token"] == mailbox.refresh_token
    # The code was redeemed once, with the PKCE verifier the fake checked against the challenge.
    [(form, status)] = google.exchanges
    assert status == 200 and len(form["code_verifier"]) >= 43
    # The stored grant works: a real sync through the Gmail adapter imports the mail.
    summary = pull_account(account.pk)
    assert not summary.error, summary.line()
    assert Conversation.objects.filter(account=account, subject="Quote for 40 seats").exists()


def test_declined_consent_connects_nothing(as_alice: Client, google: FakeGoogle):
    google.add_mailbox(GMAIL)
    google.signed_in = GMAIL
    google.deny = True

    response = google_round_trip(as_alice, google)

    assert response.status_code == 400
    assert "You did not allow Sales Inbox to access the mailbox" in html(response)
    assert not MailAccount.objects.exists() and google.exchanges == []


def test_an_answer_with_a_foreign_state_is_refused_and_a_flow_is_single_use(
    as_alice: Client, google: FakeGoogle
):
    google.add_mailbox(GMAIL)
    google.signed_in = GMAIL
    answer = google.browse(start(as_alice, "google")["Location"])

    forged = as_alice.get(reverse("connect:google_callback"), {**answer, "state": "someone-elses"})
    assert forged.status_code == 400 and "does not belong to this sign-in" in html(forged)
    replay = as_alice.get(reverse("connect:google_callback"), answer)
    assert replay.status_code == 400 and "expired or was already used" in html(replay)
    assert not MailAccount.objects.exists() and google.exchanges == []


def test_gmail_scope_left_unticked_is_explained(as_alice: Client, google: FakeGoogle):
    google.add_mailbox(GMAIL)
    google.signed_in = GMAIL
    google.granted_scopes = ["openid"]

    response = google_round_trip(as_alice, google)

    assert response.status_code == 400 and "Google did not grant access to Gmail" in html(response)
    assert not MailAccount.objects.exists()


def test_on_lite_connect_google_is_refused_before_leaving_for_google(
    as_alice: Client, acme, google: FakeGoogle
):
    set_plan(acme, Plan.LITE)

    response = start(as_alice, "google")

    assert response.status_code == 403 and "Growth plan and higher" in html(response)
    assert google.authorize_queries == [] and not MailAccount.objects.exists()


def test_reconnect_google_after_revoked_access(as_alice: Client, alice, google: FakeGoogle):
    mailbox = google.add_mailbox(GMAIL)
    account = personal_account(alice, provider=Provider.GMAIL, address=GMAIL)
    MailAccount.objects.filter(pk=account.pk).update(
        status=AccountStatus.NEEDS_REAUTH, credentials={"refresh_token": "revoked"}
    )
    new_token = google.regrant(GMAIL)

    response = google_round_trip(as_alice, google, account=account.pk)

    assert response.status_code == 302
    assert google.authorize_queries[0]["login_hint"] == GMAIL
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE and account.credentials["refresh_token"] == new_token
    assert mailbox.refresh_token == new_token and MailAccount.objects.count() == 1


def test_reconnect_with_another_google_account_is_refused(as_alice: Client, alice, google: FakeGoogle):
    google.add_mailbox("someone.else@gmail.test")
    account = personal_account(alice, provider=Provider.GMAIL, address=GMAIL)
    MailAccount.objects.filter(pk=account.pk).update(status=AccountStatus.NEEDS_REAUTH)
    started = start(as_alice, "google", account=account.pk)
    # The user picks another account on Google's page than the one we hinted.
    url = started["Location"].replace(urllib.parse.quote(GMAIL), "someone.else%40gmail.test")
    response = as_alice.get(reverse("connect:google_callback"), google.browse(url))

    assert response.status_code == 400
    assert f"You signed in as someone.else@gmail.test, but the mailbox to reconnect is {GMAIL}" in html(
        response
    )
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_REAUTH


def test_carol_cannot_start_a_reconnect_of_an_acme_mailbox(as_carol: Client, alice, google: FakeGoogle):
    account = personal_account(alice, provider=Provider.GMAIL, address=GMAIL)

    assert start(as_carol, "google", account=account.pk).status_code == 404
    assert google.authorize_queries == []


# --- Microsoft ----------------------------------------------------------------------------------


def ms_round_trip(client: Client, ms: FakeMicrosoft, **data: object):  # type: ignore[no-untyped-def]
    started = start(client, "microsoft", **data)
    assert started.status_code == 302, html(started)
    fields = ms.sign_in(started["Location"])  # the browser step; the fake answers as a form post
    return client.post(reverse("connect:microsoft_callback"), fields)


def test_microsoft_asks_for_offline_access_the_mail_scopes_and_pkce(as_alice: Client, ms: FakeMicrosoft):
    response = start(as_alice, "microsoft", login_hint="alice@acme.test")

    assert response.status_code == 302
    assert response["Location"].startswith(ms.authority.rsplit("/", 1)[0])
    query = query_of(response["Location"])
    assert set(query["scope"].split()) >= {"offline_access", "https://graph.microsoft.com/Mail.ReadWrite"}
    # A personal mailbox never asks for .Shared (personal Microsoft accounts refuse it).
    assert "https://graph.microsoft.com/Mail.ReadWrite.Shared" not in query["scope"].split()
    assert query["code_challenge_method"] == "S256" and query["response_mode"] == "form_post"
    assert query["redirect_uri"] == settings.SITE_URL.rstrip("/") + reverse("connect:microsoft_callback")


def test_microsoft_asks_for_the_shared_scope_only_for_a_team_mailbox(as_alice: Client, ms: FakeMicrosoft):
    response = start(as_alice, "microsoft", login_hint="sales@acme.test", kind="team", name="Sales")
    assert response.status_code == 302, html(response)
    assert (
        "https://graph.microsoft.com/Mail.ReadWrite.Shared" in query_of(response["Location"])["scope"].split()
    )


def test_connect_microsoft_redeems_the_code_and_stores_a_working_sign_in(
    as_alice: Client, alice, ms: FakeMicrosoft
):
    ms.add_mailbox("alice@acme.test")

    response = ms_round_trip(as_alice, ms, login_hint="alice@acme.test")

    account = MailAccount.objects.get(provider=Provider.OUTLOOK)
    assert response.status_code == 302
    assert response["Location"] == reverse("email_sync:status", args=[account.pk])
    assert account.address == "alice@acme.test" and account.owner == alice
    assert ms.token_grants() == ["authorization_code"]
    token = graph_auth.GraphTokens(account, graph_auth.graph_session()).access_token()
    assert token in ms.access_tokens


def test_admin_connects_a_microsoft_team_mailbox_with_members(as_alice: Client, bob, ms: FakeMicrosoft):
    ms.add_mailbox("sales@acme.test")

    response = ms_round_trip(
        as_alice, ms, login_hint="sales@acme.test", kind="team", name="Sales", members=[bob.pk]
    )

    assert response.status_code == 302
    account = MailAccount.objects.get(address="sales@acme.test")
    assert (
        account.kind == AccountKind.TEAM and account.name == "Sales" and set(account.members.all()) == {bob}
    )


def test_microsofts_cross_site_post_is_relayed_so_the_session_cookie_comes_along(
    as_alice: Client, ms: FakeMicrosoft
):
    ms.add_mailbox("alice@acme.test")
    started = start(as_alice, "microsoft", login_hint="alice@acme.test")
    fields = ms.sign_in(started["Location"])

    # Microsoft's form post arrives from another site: a SameSite=Lax cookie stays home.
    relay = Client().post(reverse("connect:microsoft_callback"), fields)

    assert relay.status_code == 200
    page = html(relay)
    assert 'name="relayed" value="1"' in page and "document.forms[0].submit()" in page
    relayed = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    assert relayed["code"] == fields["code"] and relayed["state"] == fields["state"]
    done = as_alice.post(reverse("connect:microsoft_callback"), relayed)  # now with the cookie
    assert done.status_code == 302 and MailAccount.objects.filter(address="alice@acme.test").exists()


def test_on_lite_connect_microsoft_is_refused(as_alice: Client, acme, ms: FakeMicrosoft):
    set_plan(acme, Plan.LITE)

    response = start(as_alice, "microsoft", login_hint="alice@acme.test")

    assert response.status_code == 403 and ms.discovery_calls == 0
    assert not MailAccount.objects.exists()
