"""Clicking through the Sales Inbox as a rep would, in real Chromium against live_server.

Each test checks what the user sees (rows leave, dialogs say what will happen, toasts)
and what the server did (state in the database after the click).
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from crm.models import DealStatus
from inbox import services
from inbox.models import Conversation, ConversationState, Message, ProviderChange
from tests.factories import DealFactory, add_person, parsed, receive, switches

pytestmark = pytest.mark.django_db(transaction=True)

PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _row(page: Page, conversation_id: int):  # type: ignore[no-untyped-def]
    return page.locator(f"#conv-{conversation_id}")


def _sidebar_link(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(rf"^{name}"))


def _state(conversation_id: int) -> str:
    return Conversation.objects.get(pk=conversation_id).state


def test_bulk_archive_from_the_list_then_unarchive_from_the_archive_folder(open_as, alice, alice_mailbox):
    pricing, renewal, kickoff = (
        receive(alice_mailbox, subject=s).conversation_id for s in ("Pricing", "Renewal", "Kick-off")
    )
    page = open_as(alice)
    _row(page, pricing).get_by_role("checkbox").check()
    _row(page, renewal).get_by_role("checkbox").check()
    expect(page.locator("#selcount")).to_have_text("2 selected")

    page.get_by_role("toolbar").get_by_role("button", name="Archive", exact=True).click()

    expect(_row(page, pricing)).to_have_count(0)
    expect(_row(page, renewal)).to_have_count(0)
    expect(_row(page, kickoff)).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("Archived 2 conversations.")
    expect(page.locator("#count-archive")).to_contain_text("2")
    assert _state(pricing) == _state(renewal) == ConversationState.ARCHIVED
    assert page.url.endswith("/inbox/")  # updated in place, no navigation

    _sidebar_link(page, "Archive").click()
    expect(page.get_by_role("heading", name="Archive")).to_be_visible()
    expect(_row(page, pricing)).to_be_visible()
    expect(_row(page, kickoff)).to_have_count(0)
    page.get_by_label("Select all conversations shown").check()
    page.get_by_role("toolbar").get_by_role("button", name="Unarchive").click()

    expect(_row(page, pricing)).to_have_count(0)
    expect(_row(page, renewal)).to_have_count(0)
    expect(page.locator("#toasts")).to_contain_text("Moved 2 conversations to the Inbox.")
    assert _state(pricing) == _state(renewal) == ConversationState.INBOX
    _sidebar_link(page, "Inbox").click()
    expect(_row(page, pricing)).to_be_visible()
    expect(_row(page, renewal)).to_be_visible()


def test_undo_in_the_toast_puts_an_archived_conversation_back(open_as, alice, alice_mailbox):
    keep = receive(alice_mailbox, subject="Proposal v2").conversation_id
    page = open_as(alice)
    _row(page, keep).hover()
    _row(page, keep).get_by_role("button", name="Archive “Proposal v2”").click()
    expect(_row(page, keep)).to_have_count(0)
    assert _state(keep) == ConversationState.ARCHIVED

    toast = page.locator("[data-toast]", has_text="Archived 1 conversation.")
    toast.get_by_role("button", name="Undo").click()

    expect(_row(page, keep)).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("(undone)")
    assert _state(keep) == ConversationState.INBOX


def test_delete_from_the_list_asks_first_and_says_what_goes(open_as, alice, alice_mailbox, acme):
    switches(alice, delete=True)
    deal = DealFactory(company=acme, title="Northwind renewal")
    first = receive(alice_mailbox, subject="Contract").conversation_id
    second = receive(alice_mailbox, subject="Invoice").conversation_id
    services.link_deal(alice, first, deal.pk)
    page = open_as(alice)
    _row(page, first).get_by_role("checkbox").check()
    _row(page, second).get_by_role("checkbox").check()

    page.get_by_role("toolbar").get_by_role("button", name="Delete", exact=True).click()

    dialog = page.get_by_role("dialog", name="Delete 2 conversations?")
    expect(dialog).to_contain_text(
        "Delete 2 conversations (2 messages) for good and remove the links to deal Northwind renewal "
        "and move 2 messages to Trash in IMAP. This cannot be undone."
    )
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert Conversation.objects.filter(pk__in=[first, second]).count() == 2  # cancel deletes nothing

    page.get_by_role("toolbar").get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    expect(_row(page, first)).to_have_count(0)
    expect(_row(page, second)).to_have_count(0)
    expect(page.locator("#toasts")).to_contain_text("Deleted 2 conversations.")
    assert not Conversation.objects.filter(pk__in=[first, second]).exists()
    assert ProviderChange.objects.filter(account=alice_mailbox, kind="trash").count() == 1


def test_delete_from_the_conversation_view_confirms_and_returns_to_the_list(open_as, alice, alice_mailbox):
    doomed = receive(alice_mailbox, subject="Spam offer").conversation_id
    other = receive(alice_mailbox, subject="Real customer").conversation_id
    page = open_as(alice, f"/inbox/c/{doomed}/")
    expect(page.get_by_role("heading", name="Spam offer")).to_be_visible()

    page.get_by_role("toolbar", name="Conversation actions").get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete 1 conversation?")
    expect(dialog).to_contain_text("Delete 1 conversation (1 message) for good. This cannot be undone.")
    dialog.get_by_role("button", name="Delete").click()

    expect(page).to_have_url(re.compile(r"/inbox/$"))
    expect(page.locator("#toasts")).to_contain_text("Deleted 1 conversation.")
    expect(_row(page, other)).to_be_visible()
    expect(_row(page, doomed)).to_have_count(0)
    assert not Conversation.objects.filter(pk=doomed).exists()


def test_archive_from_the_conversation_view_goes_back_with_undo(open_as, alice, alice_mailbox):
    convo = receive(alice_mailbox, subject="Kick-off agenda").conversation_id
    page = open_as(alice, f"/inbox/c/{convo}/")
    page.get_by_role("toolbar", name="Conversation actions").get_by_role("button", name="Archive").click()
    expect(page).to_have_url(re.compile(r"/inbox/$"))
    expect(_row(page, convo)).to_have_count(0)
    assert _state(convo) == ConversationState.ARCHIVED

    toast = page.locator("[data-toast]", has_text="Archived 1 conversation.")
    toast.get_by_role("button", name="Undo").click()
    expect(_row(page, convo)).to_be_visible()
    assert _state(convo) == ConversationState.INBOX


def test_delete_this_email_from_a_deal_history(open_as, alice, alice_mailbox, acme):
    deal = DealFactory(company=acme, title="Fabrikam pilot")
    gone = receive(alice_mailbox, subject="Old quote")
    kept = receive(alice_mailbox, subject="New quote")
    for result in (gone, kept):
        services.link_deal(alice, result.conversation_id, deal.pk)
    archived = receive(alice_mailbox, subject="Signed NDA")
    services.link_deal(alice, archived.conversation_id, deal.pk)
    services.archive_conversations(alice, [archived.conversation_id])

    page = open_as(alice, f"/crm/deal/{deal.pk}/")
    history = page.locator(f"#history-deal-{deal.pk}")
    expect(history).to_contain_text("Old quote")
    # Archived conversations stay in History.
    expect(history.locator(f"#hist-msg-{archived.message_id}")).to_contain_text("Archived")

    history.get_by_role("button", name="Actions for the email “Old quote”").click()
    history.get_by_role("menuitem", name="Delete this email").click()
    dialog = page.get_by_role("dialog", name="Delete this email?")
    expect(dialog).to_contain_text("disappears from the History of deal Fabrikam pilot")
    expect(dialog).to_contain_text("the conversation goes too")
    dialog.get_by_role("button", name="Delete").click()

    expect(history.locator(f"#hist-msg-{gone.message_id}")).to_have_count(0)
    expect(history.locator(f"#hist-msg-{kept.message_id}")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("Email deleted.")
    assert not Message.objects.filter(pk=gone.message_id).exists()
    assert Message.objects.filter(pk=kept.message_id).exists()


def test_link_a_conversation_to_a_deal_with_the_picker_and_find_it_in_the_deal_history(
    open_as, alice, alice_mailbox, acme
):
    DealFactory(company=acme, title="Initech rollout", status=DealStatus.OPEN)
    target = DealFactory(company=acme, title="Globex expansion", status=DealStatus.OPEN)
    convo = receive(alice_mailbox, subject="Volume tiers").conversation_id
    page = open_as(alice, f"/inbox/c/{convo}/")

    page.get_by_role("searchbox", name="Link to a deal, lead or project").fill("globex")
    option = page.get_by_role("button", name="Link deal Globex expansion")
    expect(option).to_be_visible()
    expect(page.get_by_role("button", name="Link deal Initech rollout")).to_have_count(0)
    option.click()

    panel = page.locator("#sidepanel")
    expect(panel.get_by_role("button", name="Unlink deal Globex expansion")).to_be_visible()
    assert Conversation.objects.get(pk=convo).deal_id == target.pk

    panel.get_by_role("link", name="Globex expansion").click()
    expect(page.get_by_role("heading", name="Globex expansion")).to_be_visible()
    expect(page.locator(f"#history-deal-{target.pk}")).to_contain_text("Volume tiers")


def test_unlink_from_the_side_panel(open_as, alice, alice_mailbox, acme):
    deal = DealFactory(company=acme, title="Hooli cloud")
    convo = receive(alice_mailbox, subject="Security review").conversation_id
    services.link_deal(alice, convo, deal.pk)
    page = open_as(alice, f"/inbox/c/{convo}/")
    page.get_by_role("button", name="Unlink deal Hooli cloud").click()
    expect(page.locator("#sidepanel")).to_contain_text("Not linked to a deal, lead or project yet.")
    assert Conversation.objects.get(pk=convo).deal_id is None


def test_keyboard_moves_selects_archives_and_deletes(open_as, alice, alice_mailbox):
    for subject in ("Alpha", "Bravo", "Charlie"):
        receive(alice_mailbox, subject=subject)
    page = open_as(alice)
    ids = page.locator("#rows > li.row").evaluate_all("rows => rows.map(r => r.dataset.id)")
    order = [int(i) for i in ids]  # as shown, newest first

    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(_row(page, order[1])).to_have_class(re.compile("is-current"))
    page.keyboard.press("e")
    expect(_row(page, order[1])).to_have_count(0)
    assert _state(order[1]) == ConversationState.ARCHIVED

    page.keyboard.press("k")
    page.keyboard.press("x")
    expect(_row(page, order[0]).get_by_role("checkbox")).to_be_checked()
    page.keyboard.press("#")
    dialog = page.get_by_role("dialog", name="Delete 1 conversation?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Delete")).to_be_focused()
    page.keyboard.press("Enter")
    expect(_row(page, order[0])).to_have_count(0)
    assert not Conversation.objects.filter(pk=order[0]).exists()
    expect(_row(page, order[2])).to_be_visible()

    page.keyboard.press("/")
    expect(page.get_by_role("searchbox", name=re.compile("Search mail"))).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()

    page.keyboard.press("j")
    page.keyboard.press("o")
    expect(page).to_have_url(re.compile(rf"/inbox/c/{order[2]}/"))
    page.keyboard.press("u")
    expect(page).to_have_url(re.compile(rf"/inbox/(\?.*)?#conv-{order[2]}$"))
    expect(_row(page, order[2])).to_be_focused()


def test_archive_by_keyboard_in_the_conversation_view(open_as, alice, alice_mailbox):
    convo = receive(alice_mailbox, subject="Onboarding plan").conversation_id
    page = open_as(alice, f"/inbox/c/{convo}/")
    page.keyboard.press("e")
    expect(page).to_have_url(re.compile(r"/inbox/$"))
    assert _state(convo) == ConversationState.ARCHIVED


def test_mark_read_and_unread_update_rows_in_place(open_as, alice, alice_mailbox):
    convo = receive(alice_mailbox, subject="Pilot results").conversation_id
    page = open_as(alice)
    expect(_row(page, convo)).to_have_class(re.compile("unread"))
    _row(page, convo).get_by_role("checkbox").check()
    page.get_by_role("button", name="Mark as read").click()
    expect(_row(page, convo)).not_to_have_class(re.compile("unread"))
    expect(_row(page, convo).get_by_role("checkbox")).to_be_checked()  # the selection stays
    assert Conversation.objects.get(pk=convo).is_read
    page.get_by_role("button", name="Mark as unread").click()
    expect(_row(page, convo)).to_have_class(re.compile("unread"))
    assert not Conversation.objects.get(pk=convo).is_read


@pytest.fixture
def image_server() -> Iterator[tuple[str, list[str]]]:
    """A "remote" image host on 127.0.0.1 that records every request it gets."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PIXEL_PNG)))
            self.end_headers()
            self.wfile.write(PIXEL_PNG)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_html_email_runs_no_script_and_loads_remote_images_only_when_asked(
    open_as, alice, alice_mailbox, image_server
):
    host, image_requests = image_server
    message = parsed(subject="Newsletter", to=(alice_mailbox.address,))
    message.html = (
        "<p>Hello <b>team</b></p>"
        f'<img src="{host}/pixel.png" alt="logo">'
        "<script>parent.document.title = 'pwned'</script>"
        "<img src=x onerror=\"parent.document.title = 'pwned'\">"
    )
    convo = receive(alice_mailbox, message).conversation_id
    page = open_as(alice, f"/inbox/c/{convo}/")

    expect(page.locator("iframe.mailframe")).to_have_attribute(
        "sandbox", "allow-popups allow-popups-to-escape-sandbox"
    )
    frame = page.frame_locator("iframe.mailframe")
    expect(frame.locator("b")).to_have_text("team")
    expect(frame.locator("script")).to_have_count(0)
    note = page.get_by_role("note")
    expect(note).to_contain_text("1 remote image hidden")
    assert image_requests == []
    assert "pwned" not in page.title()

    note.get_by_role("button", name="Show images").click()
    expect(page.get_by_role("note")).to_contain_text("Remote images are shown")
    expect(frame.locator("img[alt=logo]")).to_have_js_property("naturalWidth", 1)
    assert image_requests == ["/pixel.png"]
    assert "pwned" not in page.title()


def test_side_panel_shows_the_person_and_organization(open_as, alice, alice_mailbox, acme):
    from tests.factories import OrganizationFactory

    org = OrganizationFactory(company=acme, name="Umbrella Health", domain="umbrella.test")
    add_person(acme, "Tara Lind", "tara@umbrella.test", organization=org)
    convo = receive(alice_mailbox, subject="Renewal", sender="tara@umbrella.test").conversation_id
    page = open_as(alice, f"/inbox/c/{convo}/")
    panel = page.locator("#sidepanel")
    expect(panel.get_by_role("link", name="Tara Lind")).to_be_visible()
    expect(panel.get_by_role("link", name="Umbrella Health").first).to_be_visible()


def test_scrolling_to_the_end_appends_the_next_page(open_as, alice, alice_mailbox):
    for i in range(55):
        receive(alice_mailbox, subject=f"Thread {i}")
    page = open_as(alice, width=1440, height=700)
    rows = page.locator("#rows > li.row")
    expect(rows).to_have_count(50)
    # The link loads on click and as soon as it scrolls into view (htmx `intersect`), so
    # a click would race the swap that replaces it; reaching it is what a rep does.
    page.get_by_role("link", name="Load more conversations").scroll_into_view_if_needed()
    expect(rows).to_have_count(55)
    expect(page.get_by_role("link", name="Load more conversations")).to_have_count(0)


def test_search_finds_words_in_the_message_body(open_as, alice, alice_mailbox):
    hit = receive(alice_mailbox, subject="Hello", text="Our procurement team approved it").conversation_id
    miss = receive(alice_mailbox, subject="Other", text="Nothing to see").conversation_id
    page = open_as(alice)
    search = page.get_by_role("searchbox", name=re.compile("Search mail"))
    search.fill("procure")
    search.press("Enter")
    expect(page.get_by_role("heading", name="Search")).to_be_visible()
    expect(_row(page, hit)).to_be_visible()
    expect(_row(page, miss)).to_have_count(0)


def test_acting_on_a_conversation_deleted_elsewhere_says_so(open_as, alice, alice_mailbox):
    convo = receive(alice_mailbox, subject="Stale row").conversation_id
    page = open_as(alice)
    services.delete_conversations(alice, [convo])  # e.g. in another tab
    _row(page, convo).get_by_role("checkbox").check()
    page.get_by_role("toolbar").get_by_role("button", name="Archive", exact=True).click()
    expect(page.locator("#toasts")).to_contain_text("Not found: deleted meanwhile (perhaps by a teammate)")
    expect(_row(page, convo)).to_have_count(0)  # the stale row leaves the list
    assert not Conversation.objects.filter(pk=convo).exists()


def test_j_and_k_walk_conversations_and_u_goes_back(open_as, alice, alice_mailbox):
    for subject in ("One", "Two", "Three"):
        receive(alice_mailbox, subject=subject)
    page = open_as(alice)
    ids = page.locator("#rows > li.row").evaluate_all("rows => rows.map(r => r.dataset.id)")
    page.locator(f"#conv-{ids[0]} .row-link").click()
    expect(page).to_have_url(re.compile(rf"/inbox/c/{ids[0]}/"))
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(rf"/inbox/c/{ids[1]}/"))
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(rf"/inbox/c/{ids[2]}/"))
    page.keyboard.press("k")
    expect(page).to_have_url(re.compile(rf"/inbox/c/{ids[1]}/"))
    page.keyboard.press("u")
    expect(page).to_have_url(re.compile(rf"/inbox/(\?.*)?#conv-{ids[1]}$"))
    # Focus is back on the row the conversation was opened from, ready for j/k again.
    expect(page.locator(f"#conv-{ids[1]}")).to_be_focused()
    page.keyboard.press("j")
    expect(page.locator(f"#conv-{ids[2]}")).to_be_focused()
