"""Attachments never become a way into the app: hostile names and types from a real
Dovecot mailbox, permissions (alice, bob, carol; browser and API), signed inline URLs,
size caps, and the streamed zip."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from api.tokens import issue_token
from inbox import attachments as store
from inbox.models import Attachment, Message
from tests.attachment_mail import (
    EXPECTED,
    HTML_PAYLOAD,
    INLINE_CID,
    LONG_NAME,
    SVG_PAYLOAD,
    download,
    export_message,
    hostile_message,
    sha,
)
from tests.imap.conftest import ImapSetup

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "attachments"
    return settings.MEDIA_ROOT


def _pulled(imap: ImapSetup, raw: bytes) -> Message:
    imap.append("inbox", raw)
    imap.pull()
    return Message.objects.filter(account=imap.account).latest("pk")


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _by_name(message: Message) -> dict[str, Attachment]:
    return {a.filename: a for a in Attachment.objects.filter(message=message)}


def test_safe_filename_strips_paths_bidi_controls_and_caps_at_255_bytes():
    assert store.safe_filename("../../etc/passwd") == "etc_passwd"
    assert store.safe_filename("..\\..\\boot.ini") == "boot.ini"
    assert store.safe_filename("invoice\u202efdp.exe") == "invoicefdp.exe"
    assert store.safe_filename("a\x00b\x07c\r\n.txt") == "abc.txt"
    assert store.safe_filename("") == "attachment"
    long = store.safe_filename(LONG_NAME)
    assert len(long.encode()) <= 255 and long.endswith(".pdf")
    wide = store.safe_filename("ö" * 300 + ".xlsx")
    assert len(wide.encode()) <= 255 and wide.endswith(".xlsx") and wide.startswith("ööö")


def test_content_disposition_has_an_ascii_fallback_and_the_utf8_name():
    header = store.content_disposition("Offert för Q3.pdf", inline=False)
    assert header == "attachment; filename=\"Offert for Q3.pdf\"; filename*=UTF-8''Offert%20f%C3%B6r%20Q3.pdf"


def test_hostile_attachments_download_under_safe_names_and_never_render(imap: ImapSetup, alice):
    message = _pulled(imap, hostile_message(to=imap.account.address))
    rows = _by_name(message)
    # RFC 2231 names are decoded by the parser; what is stored is what was sent.
    assert set(rows) == {"../../etc/passwd", "invoice\u202efdp.exe", LONG_NAME, "statement.html", "logo.svg"}
    client = _client(alice)
    seen = {}
    for name, row in rows.items():
        status, body, headers = download(client, reverse("inbox:attachment", args=[row.pk]))
        assert status == 200, name
        disposition = headers["content-disposition"]
        assert disposition.startswith("attachment;"), (name, disposition)
        assert headers["content-type"] == "application/octet-stream", name
        assert headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in headers["content-security-policy"]
        assert "/" not in disposition and "\\" not in disposition.replace("\\\\", "")
        assert "\u202e" not in disposition and "%E2%80%AE" not in disposition
        assert len(disposition.encode()) < 1100
        seen[name] = (disposition, body)
    assert 'filename="etc_passwd"' in seen["../../etc/passwd"][0]
    assert 'filename="invoicefdp.exe"' in seen["invoice\u202efdp.exe"][0]
    assert seen["statement.html"][1] == HTML_PAYLOAD
    assert seen["logo.svg"][1] == SVG_PAYLOAD


def test_svg_and_html_are_refused_as_inline_images_even_with_a_valid_signed_url(imap: ImapSetup, alice):
    message = _pulled(imap, hostile_message(to=imap.account.address))
    rows = _by_name(message)
    for name in ("logo.svg", "statement.html"):
        token = store.inline_token(alice, rows[name])
        response = Client().get(reverse("inbox:attachment_inline", args=[token]))
        assert response.status_code == 403, name


def test_a_signed_inline_url_works_without_a_session_and_expires(imap: ImapSetup, alice):
    message = _pulled(imap, export_message(to=imap.account.address))
    logo = Attachment.objects.get(message=message, content_id=INLINE_CID)
    url = reverse("inbox:attachment_inline", args=[store.inline_token(alice, logo)])

    status, body, headers = download(Client(), url)  # the sandboxed frame sends no cookie
    assert status == 200 and sha(body) == EXPECTED["logo.png"]
    assert headers["content-type"] == "image/png"
    assert headers["content-disposition"].startswith("inline;")

    class Earlier(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - store.INLINE_URL_MAX_AGE - 5)

    expired = Earlier(salt="inbox.attachment.inline").sign(f"{alice.pk}.{logo.pk}")
    assert Client().get(reverse("inbox:attachment_inline", args=[expired])).status_code == 403
    forged = store.inline_token(alice, logo)[:-2] + "xx"
    assert Client().get(reverse("inbox:attachment_inline", args=[forged])).status_code == 403


def test_bob_and_carol_cannot_fetch_alices_attachment_by_url_or_api(imap: ImapSetup, alice, bob, carol):
    message = _pulled(imap, export_message(to=imap.account.address))
    pdf = _by_name(message)["export.pdf"]
    urls = [
        reverse("inbox:attachment", args=[pdf.pk]),
        reverse("inbox:attachments_zip", args=[message.pk]),
    ]
    api_urls = [
        reverse("api:file_download", args=[pdf.pk]),
        reverse("api:file_detail", args=[pdf.pk]),
        reverse("api:message_files", args=[message.pk]),
    ]
    for user in (bob, carol):
        client = _client(user)
        for url in urls:
            assert client.get(url).status_code == 404, (user.email, url)
        token = issue_token(user)
        for url in api_urls:
            response = Client().get(url, HTTP_X_API_TOKEN=token)
            assert response.status_code == 404, (user.email, url)
    assert not Attachment.objects.get(pk=pdf.pk).file  # nothing was fetched for them

    token = issue_token(alice)
    files = (
        Client().get(reverse("api:message_files", args=[message.pk]), HTTP_X_API_TOKEN=token).json()["data"]
    )
    assert {f["file_name"]: f["inline_flag"] for f in files} == {
        "logo.png": 1,
        "export.pdf": 0,
        "chart.png": 0,
    }
    status, body, headers = download(
        Client(HTTP_X_API_TOKEN=token), reverse("api:file_download", args=[pdf.pk])
    )
    assert status == 200 and sha(body) == EXPECTED["export.pdf"]
    assert headers["content-disposition"].startswith("attachment;")
    detail = (
        Client().get(reverse("api:message_detail", args=[message.pk]), HTTP_X_API_TOKEN=token).json()["data"]
    )
    assert (detail["has_inline_attachments_flag"], detail["has_real_attachments_flag"]) == (1, 1)


def test_download_all_streams_a_zip_of_every_file_byte_for_byte(imap: ImapSetup, alice):
    message = _pulled(imap, export_message(to=imap.account.address))
    response = _client(alice).get(reverse("inbox:attachments_zip", args=[message.pk]))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert {info.filename: sha(archive.read(info)) for info in archive.infolist()} == EXPECTED


def test_size_caps_refuse_with_a_clear_message_and_fetch_nothing(imap: ImapSetup, alice, settings):
    message = _pulled(imap, export_message(to=imap.account.address))
    pdf = _by_name(message)["export.pdf"]
    settings.ATTACHMENT_MAX_BYTES = 1_000_000
    response = _client(alice).get(reverse("inbox:attachment", args=[pdf.pk]))
    assert response.status_code == 413
    assert "export.pdf” is 1.4 MB, above the 977 KB limit for one file here" in response.content.decode()
    assert not Attachment.objects.get(pk=pdf.pk).file

    settings.ATTACHMENT_MAX_BYTES = 50_000_000
    settings.ATTACHMENT_MESSAGE_MAX_BYTES = 1_200_000
    response = _client(alice).get(reverse("inbox:attachments_zip", args=[message.pk]))
    assert response.status_code == 413
    text = response.content.decode()
    assert "attachments add up to 1.4 MB, above the 1.1 MB limit" in text and "one by one" in text
