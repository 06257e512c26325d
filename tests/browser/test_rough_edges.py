"""The rough edges a newcomer hit (issue 20), clicked through in Chromium."""

from __future__ import annotations

import re

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
