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


def test_team_delete_says_it_is_for_every_member_and_the_teammate_s_open_list_catches_up(
    open_as, alice, bob, sales_mailbox
):
    shared = receive(sales_mailbox, subject="Shared lead").conversation_id
    other = receive(sales_mailbox, subject="Still here").conversation_id
    bobs_page = open_as(bob)
    expect(bobs_page.locator(f"#conv-{shared}")).to_be_visible()

    page = open_as(alice)
    page.locator(f"#conv-{shared}").get_by_role("checkbox").check()
    page.get_by_role("toolbar").get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete 1 conversation?")
    expect(dialog).to_contain_text(
        f"Delete 1 conversation (1 message) for good for every member of the team mailbox {sales_mailbox}"
    )
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator(f"#conv-{shared}")).to_have_count(0)

    # Bob's list still shows it; acting on it says what happened and updates his list.
    bobs_page.locator(f"#conv-{shared}").get_by_role("checkbox").check()
    bobs_page.get_by_role("toolbar").get_by_role("button", name="Archive", exact=True).click()
    expect(bobs_page.locator("#toasts")).to_contain_text("deleted meanwhile (perhaps by a teammate)")
    expect(bobs_page.locator(f"#conv-{shared}")).to_have_count(0)
    expect(bobs_page.locator(f"#conv-{other}")).to_be_visible()


def test_double_clicking_delete_in_the_conversation_sends_one_post_and_back_shows_it_is_gone(
    open_as, alice, alice_mailbox
):
    convo = receive(alice_mailbox, subject="Delete me once").conversation_id
    page = open_as(alice)
    page.locator(f"#conv-{convo} .row-link").click()
    expect(page.get_by_role("heading", name="Delete me once")).to_be_visible()
    posts: list[str] = []
    page.on(
        "request",
        lambda r: posts.append(r.url) if r.method == "POST" and "/inbox/actions/" in r.url else None,
    )
    page.get_by_role("toolbar", name="Conversation actions").get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete 1 conversation?")
    dialog.get_by_role("button", name="Delete", exact=True).dblclick()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("Deleted 1 conversation.")
    assert len(posts) == 1, posts

    page.go_back()  # the conversation's page is asked for again, not shown from a cache
    expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
    expect(page.get_by_role("heading", name="Delete me once")).to_have_count(0)


def test_select_all_offers_the_whole_folder_beyond_the_rows_shown(open_as, alice, alice_mailbox):
    from inbox.models import Conversation

    ids = [receive(alice_mailbox, subject=f"Bulk {n}").conversation_id for n in range(55)]
    page = open_as(alice)
    expect(page.locator("#rows > li.row")).to_have_count(50)
    banner = page.locator("#select-all-banner")
    expect(banner).to_be_hidden()
    page.get_by_label("Select all conversations shown").check()
    expect(banner).to_contain_text("All 50 conversations shown are selected.")
    banner.get_by_role("button", name="Select all 55 conversations in Inbox").click()
    expect(page.locator("#selcount")).to_have_text("All selected")
    page.get_by_role("toolbar").get_by_role("button", name="Archive", exact=True).click()
    expect(page.locator("#toasts")).to_contain_text("Archived 55 conversations.")
    assert Conversation.objects.filter(pk__in=ids, state="archived").count() == 55


def test_linking_a_lead_asks_before_it_replaces_the_deal(open_as, alice, alice_mailbox, acme):
    from inbox.models import Conversation
    from tests.factories import DealFactory, LeadFactory

    deal = DealFactory(company=acme, title="Northwind licence")
    lead = LeadFactory(company=acme, title="Northwind inbound")
    convo = receive(alice_mailbox, subject="Which one?").conversation_id
    services.link_deal(alice, convo, deal.pk)
    page = open_as(alice, f"/inbox/c/{convo}/")
    picker = page.get_by_role("searchbox", name="Link to a deal, lead or project")

    picker.fill("northwind inbound")
    page.get_by_role("button", name="Link lead Northwind inbound").click()
    dialog = page.get_by_role("dialog", name="Link to the lead Northwind inbound instead?")
    expect(dialog).to_contain_text("This conversation is linked to the deal Northwind licence.")
    dialog.get_by_role("button", name="Keep the deal").click()
    expect(dialog).to_have_count(0)
    assert Conversation.objects.get(pk=convo).deal_id == deal.pk

    picker.fill("northwind inbound")
    page.get_by_role("button", name="Link lead Northwind inbound").click()
    page.get_by_role("dialog").get_by_role("button", name="Link to the lead").click()
    expect(page.locator("#sidepanel")).to_contain_text("Northwind inbound")
    expect(page.locator("#toasts")).to_contain_text("Linked to the lead.")
    linked = Conversation.objects.get(pk=convo)
    assert (linked.deal_id, linked.lead_id) == (None, lead.pk)


def test_a_toast_leaves_the_sidebar_s_shortcut_hint_visible(open_as, alice, alice_mailbox):
    convo = receive(alice_mailbox, subject="Toast me").conversation_id
    page = open_as(alice)
    hint = page.get_by_role("button", name="Press ? for shortcuts")
    expect(hint).to_be_visible()
    page.locator(f"#conv-{convo}").get_by_role("checkbox").check()
    page.get_by_role("toolbar").get_by_role("button", name="Archive", exact=True).click()
    toast = page.locator("#toasts .toast").first
    expect(toast).to_contain_text("Archived 1 conversation.")
    t, h = toast.bounding_box(), hint.bounding_box()
    assert t is not None and h is not None
    overlaps = t["x"] < h["x"] + h["width"] and h["x"] < t["x"] + t["width"]
    overlaps = overlaps and t["y"] < h["y"] + h["height"] and h["y"] < t["y"] + t["height"]
    assert not overlaps, (t, h)


def test_a_switch_saves_when_tapped_on_a_phone_and_undo_in_its_toast_turns_it_back(
    open_as, alice, alice_mailbox
):
    from inbox.models import UserSyncSettings

    page = open_as(alice, "/settings/email-sync/", width=390, height=844, touch=True)
    switch = page.get_by_role("switch", name=re.compile("^Archive the message"))
    expect(switch).not_to_be_checked()
    switch.tap()  # no Save button to find: the toggle saves at once
    toast = page.locator("#toasts .toast").filter(has_text="Archive in the external mailbox on. Saved.")
    expect(toast).to_be_visible()
    expect(switch).to_be_checked()
    assert UserSyncSettings.objects.get(user=alice).archive_in_provider

    toast.get_by_role("button", name="Undo").tap()
    expect(page.locator("#toasts")).to_contain_text("Archive in the external mailbox off. Saved.")
    expect(page.get_by_role("switch", name=re.compile("^Archive the message"))).not_to_be_checked()
    assert not UserSyncSettings.objects.get(user=alice).archive_in_provider
