"""A rep on a phone (390 × 844): nothing scrolls sideways, the menu button opens a drawer that
reaches every folder, CRM page and setting, and rows are archived and deleted by tap."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from inbox.models import Conversation, ConversationState
from tests.browser.pages import demo_pages, each_page
from tests.factories import receive

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


def _fits(page: Page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def test_no_page_scrolls_sideways_on_a_phone(open_as):
    demo = demo_pages()
    page = open_as(demo.alice, "/inbox/", **PHONE)
    wide = {}
    spilled = {}
    swiped = {}
    visited = []
    for name in each_page(page, demo):
        visited.append(name)
        scroll_width, inner_width = _fits(page)
        if scroll_width > inner_width:
            wide[name] = scroll_width
        # A status pill or badge squeezed by the narrow screen: its text wraps out of it.
        found = page.evaluate(SPILLED_PILLS)
        if found:
            spilled[name] = found
        # A table that fits only by swiping it sideways inside its card hides its last
        # column (a row's links) from a rep who does not think of swiping.
        cut = page.evaluate(SWIPED_TABLES)
        if cut:
            swiped[name] = cut
    assert visited == demo.names()  # every page was opened, none skipped
    assert not wide, f"pages wider than the phone (390 px): {wide}"
    assert not spilled, f"text spilling out of its pill: {spilled}"
    assert not swiped, f"tables wider than their card on a phone: {swiped}"


SWIPED_TABLES = """() => [...document.querySelectorAll(".table-card")]
  .filter(el => el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1)
  .map(el => (el.querySelector("h2, h3") || el).textContent.trim().slice(0, 40) + ": "
    + el.scrollWidth + " > " + el.clientWidth)"""


SPILLED_PILLS = """() => [...document.querySelectorAll(".status, .badge")]
  .filter(el => el.offsetParent !== null && el.scrollHeight > el.clientHeight + 1)
  .map(el => el.textContent.trim())"""


def _open_menu(page: Page):  # type: ignore[no-untyped-def]
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_be_visible()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    drawer = page.get_by_role("navigation", name="Main")
    expect(drawer).to_be_visible()
    return drawer


def _go(page: Page, link_name: str, heading: str | re.Pattern[str]) -> None:
    drawer = _open_menu(page)
    link = drawer.get_by_role("link", name=re.compile(rf"^{re.escape(link_name)}"))
    expect(link.first).to_be_visible()
    link.first.click()
    expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
    # The drawer closes itself with the navigation; the page is usable again.
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")


def test_the_menu_reaches_every_folder_crm_page_and_setting_on_a_phone(open_as):
    demo = demo_pages()
    page = open_as(demo.alice, "/inbox/", **PHONE)
    # Closed, the drawer hides its links: they take no taps and no focus.
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Sent")).to_be_hidden()

    for link_name, heading in [
        ("Sent", "Sent"),
        ("Archive", "Archive"),
        ("Inbox", "Inbox"),
        ("Deals", "Deals"),
        ("Leads", "Leads"),
        ("Projects", "Projects"),
        ("People", "People"),
        ("Organizations", "Organizations"),
        ("Activity", "Activity"),
        ("Inbox", "Inbox"),
        ("Sales team (demo mailbox)", "Inbox"),
        ("API", re.compile("API")),
        ("Settings", "General settings"),
        ("Account: Sales team", "Sales team (demo mailbox)"),
        ("Connect a mailbox", "Connect a mailbox"),
        ("General settings", "General settings"),
        ("Plan", "Plan"),
        ("Time zone", "Time zone"),
        ("Writing mail", "Writing mail"),
        ("Back to the Inbox", "Inbox"),
        ("Drafts", "Drafts"),
        ("Compose", "New message"),
        ("Settings", "General settings"),
    ]:
        _go(page, link_name, heading)

    # A mailbox's status is one visible tap away from the settings page.
    page.get_by_role("link", name="alice@demo.test").first.click()
    expect(page.get_by_role("heading", name="State")).to_be_visible()
    assert _fits(page)[0] <= PHONE["width"]

    # Escape and the backdrop close the drawer too, focus back on the menu button.
    _open_menu(page)
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Menu")).to_be_focused()
    _open_menu(page)
    page.locator(".drawer-backdrop").click(position={"x": 370, "y": 400})
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")


def test_archive_and_delete_a_row_by_tap_on_a_phone(open_as, alice, alice_mailbox):
    keep = receive(alice_mailbox, subject="Stays here").conversation_id
    archive = receive(alice_mailbox, subject="Tap to archive").conversation_id
    delete = receive(alice_mailbox, subject="Tap to delete").conversation_id
    page = open_as(alice, "/inbox/", touch=True, **PHONE)

    archive_button = page.locator(f"#conv-{archive}").get_by_role("button", name=re.compile("^Archive"))
    expect(archive_button).to_be_visible()  # no hover on a touch screen: the actions are shown
    archive_button.tap()
    expect(page.locator(f"#conv-{archive}")).to_have_count(0)
    expect(page.locator("#toasts")).to_contain_text("Archived 1 conversation.")
    assert Conversation.objects.get(pk=archive).state == ConversationState.ARCHIVED

    page.locator(f"#conv-{delete}").get_by_role("button", name=re.compile("^Delete")).tap()
    dialog = page.get_by_role("dialog", name="Delete 1 conversation?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Delete", exact=True).tap()
    expect(page.locator(f"#conv-{delete}")).to_have_count(0)
    assert not Conversation.objects.filter(pk=delete).exists()
    expect(page.locator(f"#conv-{keep}")).to_be_visible()
    assert _fits(page)[0] <= PHONE["width"]


NEWSLETTER = """<table width="100%"><tr><td><b>Pilot results: week 6</b></td></tr>
<tr><td>Here is where the pilot stands after six weeks; the export is attached.</td></tr>
<tr><td><img src="https://cdn.example.test/week6.png" width="520" height="180" alt="Chart"></td></tr>
</table>"""


def test_an_html_mail_with_a_held_back_wide_image_fits_the_phone_and_nothing_is_cut_off(
    open_as, alice, alice_mailbox
):
    from inbox.models import Message

    message = receive(alice_mailbox, subject="Pilot results")
    Message.objects.filter(pk=message.message_id).update(html=NEWSLETTER)
    page = open_as(alice, f"/inbox/c/{message.conversation_id}/", **PHONE)
    expect(page.get_by_role("button", name="Show images")).to_be_visible()  # the image is held back
    body = page.frame_locator("iframe.mailframe").locator("body")
    expect(body).to_contain_text("the export is attached")
    # The mail's own width fits its frame: the text wraps instead of running off the edge.
    scroll_width, width = body.evaluate("b => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= width, (scroll_width, width)
    assert _fits(page)[0] <= PHONE["width"]
