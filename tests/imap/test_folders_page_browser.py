"""The folder form in real Chromium: usable at 390 px wide and by keyboard alone, with a
visible focus — pick another Archive folder with Tab and the arrow keys, save with Enter."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from inbox.models import AuditEvent
from sync.folder_settings import AUDIT_ACTION
from tests.imap.conftest import make_setup
from tests.imap.dovecot import Dovecot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.dovecot]


def test_folders_are_picked_by_keyboard_on_a_phone_sized_screen(  # type: ignore[no-untyped-def]
    open_as, dovecot_fallback: Dovecot, acme, alice, bob
):
    setup = make_setup(dovecot_fallback, "personal", acme=acme, alice=alice, bob=bob)
    with setup.client() as client:
        client.create_folder("Clients")
    page = open_as(
        alice, f"/settings/email-sync/connect/imap/{setup.account.pk}/folders/", width=390, height=844
    )

    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out sideways
    expect(page.locator("[data-guessed]")).to_have_count(3)
    archive = page.get_by_label("Archive", exact=False)
    expect(archive).to_have_value("Archives")
    box = archive.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390

    archive.focus()
    shadow = archive.evaluate("el => getComputedStyle(el).boxShadow + getComputedStyle(el).outlineStyle")
    assert shadow not in ("nonenone", "none"), "the focused field shows no focus ring"
    page.keyboard.type("Cl")  # type-ahead on the focused <select>
    expect(archive).to_have_value("Clients")
    page.keyboard.press("Tab")  # Trash
    page.keyboard.press("Tab")  # Save
    expect(page.get_by_role("button", name="Save folders")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(rf"/settings/email-sync/accounts/{setup.account.pk}/status/$"))
    setup.account.refresh_from_db()
    assert setup.account.config["folders"]["archive"] == "Clients"
    assert AuditEvent.objects.filter(account=setup.account, action=AUDIT_ACTION).count() == 1
    setup.close()
