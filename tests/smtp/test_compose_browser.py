"""Reply in Chromium: r, type, Send, Undo within the delay (nothing arrives), Send again
(arrives once); a draft survives a reload; the editor at 390 px and by keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from inbox.models import Conversation, Draft, OutgoingMessage, SendState
from inbox.services.compose import set_compose_settings
from sync.push import push_account
from tests.smtp.conftest import Sending
from tests.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.dovecot]


@pytest.fixture
def conversation(sending: Sending, alice) -> Conversation:
    set_compose_settings(alice, signature_html="", undo_seconds=10)
    sending.rep.deliver(subject="Pricing question", sender=f"Customer <{sending.customer.login}>")
    sending.rep.pull()
    return Conversation.objects.get(account=sending.rep.account)


def _type_reply(page: Page, text: str) -> None:
    editor = page.locator("[data-editor-area]")
    expect(editor).to_be_visible()
    editor.click()
    page.keyboard.type(text)


def test_reply_with_r_undo_within_the_delay_then_send_again_arrives_once(
    open_as, alice, conversation: Conversation, sending: Sending
):
    page = open_as(alice, f"/inbox/c/{conversation.pk}/")
    page.keyboard.press("r")
    expect(page).to_have_url(re.compile(r"/reply/"))
    expect(page.locator("#compose-to")).to_have_value(re.compile(re.escape(sending.customer.login)))
    _type_reply(page, "Ten euros a seat.")
    page.keyboard.press("Control+Enter")

    expect(page.locator("[data-send-state=sending]")).to_be_visible()
    expect(page.frame_locator(".msg-last iframe").locator("body")).to_contain_text("Ten euros a seat.")
    page.get_by_role("button", name="Undo").click()

    expect(page).to_have_url(re.compile(r"/drafts/\d+/"))
    expect(page.locator("[data-editor-area]")).to_contain_text("Ten euros a seat.")
    push_account(sending.rep.account.pk)
    assert (
        not OutgoingMessage.objects.exists() and sending.customer_ids() == [] and sending.smtp.received == []
    )

    page.get_by_role("button", name="Send").click()
    expect(page.locator("[data-send-state=sending]")).to_be_visible()
    outgoing = OutgoingMessage.objects.get()

    def sent() -> bool:
        push_account(sending.rep.account.pk)  # due once the Undo delay is over
        return OutgoingMessage.objects.get(pk=outgoing.pk).state == SendState.SENT

    assert wait_until(sent, timeout=40, interval=0.5)
    expect(page.locator("[data-send-state=sent]")).to_be_visible(timeout=15000)  # the page follows
    assert sending.customer_ids() == [outgoing.message.message_id]
    assert not Draft.objects.exists()


def test_a_draft_survives_a_reload_and_is_resumed_from_the_conversation(
    open_as, alice, conversation: Conversation
):
    page = open_as(alice, f"/inbox/c/{conversation.pk}/reply/")
    _type_reply(page, "Half-written answer")
    expect(page.locator("[data-autosave-status]")).to_have_text("Draft saved")
    page.reload()
    # Reply on the conversation resumes the draft.
    page.goto(f"/inbox/c/{conversation.pk}/")
    page.keyboard.press("r")
    expect(page).to_have_url(re.compile(r"/drafts/\d+/"))
    expect(page.locator("[data-editor-area]")).to_contain_text("Half-written answer")
    page.goto("/inbox/drafts/")
    expect(page.locator("[data-draft-link]")).to_contain_text("Re: Pricing question")


def test_the_editor_fits_a_phone_and_works_by_keyboard_with_a_visible_focus(
    open_as, alice, conversation: Conversation
):
    page = open_as(alice, f"/inbox/c/{conversation.pk}/", width=390, height=844)
    page.keyboard.press("a")  # Reply all
    expect(page).to_have_url(re.compile(r"mode=reply_all"))
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner
    page.locator("#compose-subject").focus()
    page.keyboard.press("Tab")  # the formatting toolbar comes next
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Bold"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")  # bold on
    page.locator("[data-editor-area]").focus()
    page.keyboard.type("Bold words")
    html = page.locator("[data-editor-source]").input_value()
    assert "Bold words" in html
