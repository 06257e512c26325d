"""Attachments in Chromium, from a real Dovecot: the inline cid: logo is shown in the mail
frame, files download by mouse and keyboard at phone width, and hostile files are
downloaded, never rendered — no script of theirs runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from inbox.models import Attachment, Message
from tests.attachment_mail import (
    EXPECTED,
    assert_inline_logo_shown,
    conversation_path,
    export_message,
    hostile_message,
    sha,
)
from tests.imap.conftest import ImapSetup

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.dovecot]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "attachments"


def test_imap_inline_logo_is_shown_and_files_download_in_chromium(imap: ImapSetup, alice, open_as):
    imap.append("inbox", export_message(to=imap.account.address))
    imap.pull()
    message = Message.objects.get(account=imap.account)
    page = open_as(alice, conversation_path(message.pk))

    assert_inline_logo_shown(page, "attachments.png")
    links = page.locator(".attachments a.attachment-link")
    expect(links).to_have_count(3)  # export.pdf, chart.png, Download all — the inline logo is in the mail
    with page.expect_download() as pdf:
        links.filter(has_text="export.pdf").click()
    assert pdf.value.suggested_filename == "export.pdf"
    assert sha(Path(pdf.value.path()).read_bytes()) == EXPECTED["export.pdf"]


def test_attachments_work_by_keyboard_at_phone_width(imap: ImapSetup, alice, open_as):
    imap.append("inbox", export_message(to=imap.account.address))
    imap.pull()
    message = Message.objects.get(account=imap.account)
    page = open_as(alice, conversation_path(message.pk), width=390, height=844, touch=True)

    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    chart = page.locator(".attachments a.attachment-link").filter(has_text="chart.png")
    chart.focus()
    assert chart.evaluate("el => el.matches(':focus-visible') && getComputedStyle(el).boxShadow !== 'none'")
    with page.expect_download() as png:
        page.keyboard.press("Enter")
    assert sha(Path(png.value.path()).read_bytes()) == EXPECTED["chart.png"]


def test_hostile_attachments_are_downloaded_not_rendered_and_run_no_script(imap: ImapSetup, alice, open_as):
    imap.append("inbox", hostile_message(to=imap.account.address))
    imap.pull()
    message = Message.objects.get(account=imap.account)
    page = open_as(alice, conversation_path(message.pk), width=390, height=844)
    title = page.title()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390  # a 300-character name wraps

    names = {}
    for row in Attachment.objects.filter(message=message):
        link = page.locator(f'.attachments a[data-attachment="{row.pk}"]')
        with page.expect_download() as download:
            link.click()
        names[row.filename] = download.value.suggested_filename
    assert names["../../etc/passwd"] == "etc_passwd"
    assert names["invoice\u202efdp.exe"] == "invoicefdp.exe"
    assert all("/" not in n and "\u202e" not in n and len(n.encode()) <= 255 for n in names.values())

    # Even opened directly (no ?download=1), HTML and SVG come as downloads, not documents.
    for filename in ("statement.html", "logo.svg"):
        row = Attachment.objects.get(message=message, filename=filename)
        with page.expect_download():
            page.evaluate("url => { window.location.href = url }", reverse("inbox:attachment", args=[row.pk]))
    assert page.title() == title
    assert "pwned" not in page.title()


def test_an_over_cap_message_shows_its_inline_logo_says_too_large_and_downloads_its_file_in_chromium(
    imap: ImapSetup, alice, open_as, monkeypatch: pytest.MonkeyPatch
):
    from sync.providers.imap import pull as imap_pull
    from tests.attachment_mail import BIG_NAME, too_large_message

    monkeypatch.setattr(imap_pull, "MAX_FETCH_BYTES", 100 * 1024)  # the message below is above it
    raw, expected = too_large_message(to=imap.account.address, file_size=300_000)
    imap.append("inbox", raw)
    imap.pull()
    message = Message.objects.get(account=imap.account)
    page = open_as(alice, conversation_path(message.pk))

    # HTML and text were fetched alone; the logo comes by its section through a signed URL,
    # with no "remote images" bar (the one note shown is the import note).
    logo = page.frame_locator("iframe.mailframe").first.locator('img[alt="Client logo"]')
    expect(logo).to_have_js_property("naturalWidth", 120)
    expect(page.locator(".imgbar:not([data-import-note])")).to_have_count(0)
    expect(page.locator("[data-import-note]")).to_contain_text("too large to import whole")
    if os.environ.get("SCREENSHOTS_DIR"):
        page.screenshot(path=str(Path(os.environ["SCREENSHOTS_DIR"]) / "attachments-over-cap.png"))
    with page.expect_download() as pdf:
        page.locator(".attachments a.attachment-link").filter(has_text="Offert").click()
    assert sha(Path(pdf.value.path()).read_bytes()) == expected[BIG_NAME]
