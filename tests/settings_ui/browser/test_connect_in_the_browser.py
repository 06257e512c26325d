""" "Connect Google" and "Connect Microsoft" clicked in real Chromium: the browser really
leaves for the (fake) provider and comes back. Microsoft answers with a cross-site form
post, which carries no SameSite=Lax session cookie — the relay page must get it through."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from inbox.models import MailAccount, Provider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site_url(live_server, settings) -> str:  # type: ignore[no-untyped-def]
    settings.SITE_URL = live_server.url  # where the providers send the browser back to
    return live_server.url


def test_connect_google_in_the_browser(open_as, site_url, google, alice):
    google.add_mailbox("alice.sales@gmail.test")
    google.signed_in = "alice.sales@gmail.test"
    page = open_as(alice, "/settings/email-sync/connect/")

    page.get_by_role("button", name="Connect Google").click()

    expect(page).to_have_url(re.compile(r"/settings/email-sync/accounts/\d+/status/$"))
    expect(page.locator("#toasts")).to_contain_text("alice.sales@gmail.test is connected")
    account = MailAccount.objects.get(provider=Provider.GMAIL)
    assert account.owner == alice and account.credentials["refresh_token"]


def test_connect_microsoft_in_the_browser_survives_the_cross_site_form_post(
    open_trusting, site_url, ms, alice
):
    ms.add_mailbox("alice@acme.test")
    page = open_trusting(alice, "/settings/email-sync/connect/")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and "callback" in r.url else None)

    page.get_by_label("E-mail address").first.fill("alice@acme.test")
    page.get_by_role("button", name="Connect Microsoft").click()

    expect(page).to_have_url(re.compile(r"/settings/email-sync/accounts/\d+/status/$"))
    expect(page.locator("#toasts")).to_contain_text("alice@acme.test is connected")
    assert MailAccount.objects.get(provider=Provider.OUTLOOK).owner == alice
    assert len(posts) == 2  # Microsoft's post (no cookie), then the relayed one (with it)
