"""The rough edges a newcomer hit (issue 20), clicked through in Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from inbox import services
from tests.factories import receive

pytestmark = pytest.mark.django_db(transaction=True)


def test_search_all_mail_then_clear_the_box_lands_in_the_inbox_not_on_an_error(open_as, alice, alice_mailbox):
    live = receive(alice_mailbox, subject="Pricing now").conversation_id
    old = receive(alice_mailbox, subject="Pricing before").conversation_id
    services.archive_conversations(alice, [old])
    page = open_as(alice)
    search = page.get_by_role("searchbox", name=re.compile("Search mail"))
    search.fill("pricing")
    search.press("Enter")
    expect(page.get_by_role("heading", name="Search")).to_be_visible()
    # All mail by default: the archived one is found too; the folder is a filter.
    expect(page.locator(f"#conv-{old}")).to_be_visible()
    expect(page.locator(f"#conv-{live}")).to_be_visible()
    filters = page.get_by_role("navigation", name="Search in")
    filters.get_by_role("link", name="Archive").click()
    expect(page.locator(f"#conv-{live}")).to_have_count(0)
    expect(page.locator(f"#conv-{old}")).to_be_visible()
    filters.get_by_role("link", name="All mail").click()
    expect(page.locator(f"#conv-{live}")).to_be_visible()

    search = page.get_by_role("searchbox", name=re.compile("Search mail"))
    search.fill("")
    search.press("Enter")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Unknown folder")
    expect(page.locator(f"#conv-{live}")).to_be_visible()


def test_a_rep_in_los_angeles_and_one_in_stockholm_see_the_same_message_at_their_local_times(
    browser, live_server, alice, bob, sales_mailbox
):
    sent = datetime(2026, 1, 15, 17, 5, tzinfo=UTC)
    convo = receive(sales_mailbox, subject="Across the ocean", when=sent).conversation_id
    shown = {}
    for user, zone in ((alice, "America/Los_Angeles"), (bob, "Europe/Stockholm")):
        context = browser.new_context(base_url=live_server.url, timezone_id=zone)
        try:
            page = context.new_page()
            page.goto("/accounts/login/")
            page.get_by_label("Email").fill(user.email)
            page.get_by_label("Password").fill("pw-123456789")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
            page.goto(f"/inbox/c/{convo}/")
            shown[zone] = page.locator(".msg-time").first.inner_text()
            page.goto("/settings/time-zone/")
            expect(page.get_by_label("Time zone", exact=True)).to_have_value(zone)
        finally:
            context.close()
    assert shown == {
        "America/Los_Angeles": "Thu, Jan 15, 2026 · 09:05",
        "Europe/Stockholm": "Thu, Jan 15, 2026 · 18:05",
    }
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.time_zone, bob.time_zone) == ("America/Los_Angeles", "Europe/Stockholm")
