"""The key pages on demo data, as screenshots: the README shows them.

    SCREENSHOTS_DIR=docs/screenshots .venv/bin/pytest tests/browser/test_screenshots.py

writes them into the repository; by default they go to a temporary directory, and the
test still checks that each page shows what it is for.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import User
from inbox.demo_data import seed_demo
from inbox.models import Attachment, Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)

NEWSLETTER = """
<table width="100%" cellpadding="0" cellspacing="0" style="font-family:Arial,sans-serif;color:#1f2937">
  <tr><td style="padding:4px 0 14px"><b style="font-size:16px">Pilot results: week 6</b></td></tr>
  <tr><td style="padding-bottom:12px">Hi Alice,<br><br>Here is where the pilot stands after six weeks.
    The numbers below are from our own dashboard; the full export is attached.</td></tr>
  <tr><td><img src="https://cdn.example.test/charts/week6.png" width="520" height="180" alt="Chart"></td></tr>
  <tr><td style="padding:12px 0">
    <table cellpadding="6" style="border-collapse:collapse;border:1px solid #e5e7eb">
      <tr style="background-color:#f3f4f6">
        <th align="left">Metric</th><th align="left">Week 1</th><th align="left">Week 6</th></tr>
      <tr><td>Active reps</td><td>12</td><td>41</td></tr>
      <tr><td>Deals touched</td><td>58</td><td>203</td></tr>
      <tr><td>Avg. reply time</td><td>9.5 h</td><td>2.1 h</td></tr>
    </table></td></tr>
  <tr><td>Can we go through the rollout plan on Thursday?
    <a href="https://northwind.test/plan">The draft is here</a>.
    <br><br>Best,<br>{name}<br><span style="color:#6b7280">Head of Sales Ops</span></td></tr>
</table>
"""


def _shots_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_screenshots_of_the_key_pages(open_as, tmp_path):
    seed_demo(conversations=160)
    alice = User.objects.get(email="alice@demo.test")
    convo = (
        Conversation.objects.filter(
            account__owner=alice, state="inbox", deal__isnull=False, message_count__gte=2
        )
        .order_by("-last_message_at")
        .first()
    )
    first = Message.objects.filter(conversation=convo, direction="in").order_by("sent_at").first()
    first.html = NEWSLETTER.replace("{name}", first.from_name)
    first.save(update_fields=["html"])
    Conversation.objects.filter(pk=convo.pk).update(subject="Re: Pilot results", has_attachments=True)
    Message.objects.filter(pk=first.pk).update(
        attachments=[
            {"filename": "pilot-week6.xlsx", "size": 48213, "content_type": "application/vnd.ms-excel"}
        ]
    )
    Attachment.objects.create(
        message=first,
        account_id=first.account_id,
        filename="pilot-week6.xlsx",
        size=48213,
        content_type="application/vnd.ms-excel",
    )
    out = _shots_dir(tmp_path)

    page = open_as(alice, "/inbox/", width=1440, height=900)
    rows = page.locator("#rows > li.row")
    expect(rows.first).to_be_visible()
    rows.nth(1).get_by_role("checkbox").check()
    rows.nth(3).get_by_role("checkbox").check()
    expect(page.locator("#selcount")).to_have_text("2 selected")
    page.evaluate("document.activeElement.blur()")
    page.screenshot(path=str(out / "inbox.png"))

    page.goto(f"/inbox/c/{convo.pk}/")
    expect(page.frame_locator("iframe.mailframe").locator("th").first).to_have_text("Metric")
    page.get_by_role("searchbox", name="Link to a deal, lead or project").click()
    expect(page.locator("#picker-results .picker-option").first).to_be_visible()
    page.screenshot(path=str(out / "conversation.png"))

    page.goto("/inbox/folder/archive/")
    expect(page.get_by_role("heading", name="Archive")).to_be_visible()
    page.locator("#rows > li.row").first.get_by_role("checkbox").check()
    page.screenshot(path=str(out / "archive.png"))

    page.goto(f"/crm/deal/{convo.deal_id}/")
    history = page.locator(f"#history-deal-{convo.deal_id}")
    expect(history.locator(".history-item").first).to_be_visible()
    history.locator("[data-menu] > button").first.click()
    expect(history.get_by_role("menuitem", name="Delete this email")).to_be_visible()
    page.screenshot(path=str(out / "deal.png"))

    history.get_by_role("menuitem", name="Delete this email").click()
    expect(page.get_by_role("dialog", name="Delete this email?")).to_be_visible()
    page.screenshot(path=str(out / "delete-confirm.png"))

    # A phone (390 × 844, touch): the list with its row actions, the menu's drawer, a
    # conversation and the settings — each without sideways scrolling.
    phone = open_as(alice, "/inbox/", width=390, height=844, touch=True)
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    expect(
        phone.locator("#rows > li.row").first.get_by_role("button", name=re.compile("^Archive"))
    ).to_be_visible()
    assert phone.evaluate(fits)
    phone.screenshot(path=str(out / "phone-inbox.png"))
    phone.get_by_role("button", name="Menu").click()
    expect(phone.get_by_role("navigation", name="Main").get_by_role("link", name="Settings")).to_be_visible()
    # The drawer slides in: shoot it once it is in place, not halfway.
    phone.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")
    phone.screenshot(path=str(out / "phone-menu.png"))
    phone.goto(f"/inbox/c/{convo.pk}/")
    expect(phone.get_by_role("heading", name="Re: Pilot results")).to_be_visible()
    assert phone.evaluate(fits)
    phone.screenshot(path=str(out / "phone-conversation.png"))
    phone.goto("/settings/email-sync/")
    expect(phone.get_by_role("heading", name="General settings")).to_be_visible()
    assert phone.evaluate(fits)
    phone.screenshot(path=str(out / "phone-settings.png"))

    names = ("inbox", "conversation", "archive", "deal", "delete-confirm")
    for name in (*names, "phone-inbox", "phone-menu", "phone-conversation", "phone-settings"):
        assert (out / f"{name}.png").stat().st_size > 10_000, name
