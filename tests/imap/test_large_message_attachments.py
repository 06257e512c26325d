"""A message above the body cap on a real Dovecot: imported from its headers, its
BODYSTRUCTURE and its small text parts — every attachment listed with name, type, size and
section, and downloaded byte for byte (``BODY.PEEK[section]``) when first opened."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from inbox.models import Attachment, Conversation, Message
from sync import store
from sync.providers.imap import pull as imap_pull
from tests.api.conftest import api_for
from tests.attachment_mail import (
    BIG_NAME,
    BIG_TEXT,
    HTML_PAYLOAD,
    INLINE_CID,
    LONG_NAME,
    SCAN_NAME,
    SVG_PAYLOAD,
    attachment_urls,
    download,
    hostile_message,
    sha,
    too_large_message,
)
from tests.imap.conftest import ImapSetup

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]

MB = 1024 * 1024


@pytest.fixture
def media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "attachments"
    return settings.MEDIA_ROOT


@pytest.mark.slow  # a 38 MB message appended to Dovecot and a 28 MB file read back
def test_a_message_above_the_body_cap_lists_its_attachments_and_each_downloads_byte_exact(
    imap: ImapSetup, alice, media
):
    assert store.MAX_FETCH_BYTES == 25 * MB
    raw, expected = too_large_message(to=imap.account.address)
    assert len(raw) > 30 * MB
    imap.append("inbox", raw)
    del raw

    assert imap.pull().report.created == 1

    message = Message.objects.get(account=imap.account)
    assert BIG_TEXT in message.text  # the text part was fetched on its own
    assert "too large to import whole" in message.parse_problems[0]
    assert "attachments are listed here and fetched when opened" in message.parse_problems[0]
    rows = {a.filename: a for a in Attachment.objects.filter(message=message)}
    assert set(rows) == {BIG_NAME, SCAN_NAME, "logo.png"}
    big = rows[BIG_NAME]
    assert (big.content_type, big.part, big.inline, big.file.name) == ("application/pdf", "2", False, "")
    assert abs(big.size - 28 * MB) < 28 * MB // 1000  # BODYSTRUCTURE's encoded size, decoded
    assert (rows[SCAN_NAME].content_type, rows[SCAN_NAME].part) == ("image/png", "3")
    logo = rows["logo.png"]
    assert (logo.part, logo.inline, logo.content_id) == ("1.2.2", True, INLINE_CID)
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.has_attachments  # the list row's paperclip

    client = Client()
    client.force_login(alice)
    for name, url in attachment_urls(message.pk).items():
        status, body, headers = download(client, url + "?download=1")
        assert status == 200, (name, body[:300])
        assert sha(body) == expected[name], name
        assert headers["content-disposition"].startswith("attachment;")
    big.refresh_from_db()
    assert big.kept_size == 28 * MB

    page = client.get(f"/inbox/c/{conversation.pk}/").content.decode()
    assert "too large to import whole" in page and "Offert" in page
    assert "Has attachments" in client.get("/inbox/").content.decode()


def test_an_over_cap_message_keeps_rfc_2231_and_2047_names_inline_parts_and_api_fields(
    imap: ImapSetup, alice, media, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(imap_pull, "MAX_FETCH_BYTES", 100_000)
    raw, expected = too_large_message(to=imap.account.address, file_size=300_000)
    imap.append("inbox", raw)

    assert imap.pull().report.created == 1

    message = Message.objects.get(account=imap.account)
    assert message.text == BIG_TEXT and f"cid:{INLINE_CID}" in message.html
    listed = [(a["filename"], a["part"], a["inline"]) for a in message.attachments]
    assert listed == [("logo.png", "1.2.2", True), (BIG_NAME, "2", False), (SCAN_NAME, "3", False)]

    api = api_for(alice)
    reply = api.get(f"/mailbox/mailMessages/{message.pk}")
    assert reply.status == 200
    assert reply.data["has_real_attachments_flag"] == 1 and reply.data["has_inline_attachments_flag"] == 1
    files = api.get(f"/mailbox/mailMessages/{message.pk}/files").data
    assert {f["name"]: f["file_size"] for f in files}[BIG_NAME] == pytest.approx(300_000, rel=0.01)

    client = Client()
    client.force_login(alice)
    response = client.get(reverse("inbox:attachments_zip", args=[message.pk]))  # "Download all"
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    assert {info.filename: sha(archive.read(info)) for info in archive.infolist()} == expected
    for name, url in attachment_urls(message.pk).items():  # kept by the zip: from the storage now
        status, body, _headers = download(client, url + "?download=1")
        assert status == 200 and sha(body) == expected[name], name


def test_hostile_names_and_types_listed_from_bodystructure_download_safely_and_only_for_alice(
    imap: ImapSetup, alice, bob, carol, media, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(imap_pull, "MAX_FETCH_BYTES", 1000)  # the hostile message is above it
    imap.append("inbox", hostile_message(to=imap.account.address))
    imap.pull()
    message = Message.objects.get(account=imap.account)
    assert "too large to import whole" in message.parse_problems[0]
    urls = attachment_urls(message.pk)
    # The same names a message fetched whole gets (tests/imap/test_attachments_safety.py).
    assert set(urls) == {"../../etc/passwd", "invoice\u202efdp.exe", LONG_NAME, "statement.html", "logo.svg"}

    for outsider in (bob, carol):  # bob: a teammate, alice's mailbox is personal; carol: another company
        client = Client()
        client.force_login(outsider)
        assert client.get(urls["statement.html"]).status_code == 404

    client = Client()
    client.force_login(alice)
    seen = {}
    for name, url in urls.items():
        status, body, headers = download(client, url)
        assert status == 200, name
        assert headers["content-type"] == "application/octet-stream", name
        assert headers["x-content-type-options"] == "nosniff"
        disposition = headers["content-disposition"]
        assert disposition.startswith("attachment;") and "/" not in disposition, (name, disposition)
        assert "\u202e" not in disposition and "%E2%80%AE" not in disposition
        assert len(disposition.encode()) < 1100
        seen[name] = (disposition, body)
    assert 'filename="etc_passwd"' in seen["../../etc/passwd"][0]
    assert seen["statement.html"][1] == HTML_PAYLOAD and seen["logo.svg"][1] == SVG_PAYLOAD
