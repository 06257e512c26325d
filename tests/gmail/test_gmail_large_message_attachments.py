"""A Gmail message above the body cap: imported from ``format=full`` (headers, the text Gmail
sends inline, and the part tree — each attachment's attachmentId and size, never its data),
every attachment listed with the same names and inline rules as a message fetched whole,
and each downloaded byte for byte with ``messages.attachments.get`` when first opened."""

from __future__ import annotations

import pytest
from django.test import Client

from inbox.models import Attachment, Conversation, ProviderRef
from sync import store
from sync.providers.gmail import attachment_data
from sync.pull import pull_account
from tests.attachment_mail import (
    BIG_NAME,
    BIG_TEXT,
    CHART,
    INLINE_CID,
    LOGO,
    SCAN_NAME,
    attachment_urls,
    download,
    sha,
    too_large_message,
)
from tests.fakes.gmail_server import FakeGmail
from tests.gmail.conftest import GmailSetup

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


@pytest.fixture
def media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "attachments"
    return settings.MEDIA_ROOT


def _download_all(alice, message_pk: int, expected: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(alice)
    for name, url in attachment_urls(message_pk).items():
        status, body, headers = download(client, url + "?download=1")
        assert status == 200, (name, body[:300])
        assert sha(body) == expected[name], name
        assert headers["content-disposition"].startswith("attachment;")


@pytest.mark.slow  # a 38 MB message in the fake and a 28 MB file read back
def test_a_gmail_message_above_the_body_cap_lists_its_attachments_and_each_downloads_byte_exact(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice, media
):
    raw, expected = too_large_message(to=alice_gmail.account.address)
    gmail_id = alice_gmail.mailbox.deliver(raw)
    del raw

    assert pull_account(alice_gmail.account.pk).report.created == 1  # type: ignore[union-attr]

    assert gmail.gets_of(gmail_id, fmt="raw") == []  # never asked for whole
    message = ProviderRef.objects.get(account=alice_gmail.account, key=gmail_id).message
    assert BIG_TEXT in message.text
    assert "too large to import whole — open in Gmail" in message.parse_problems[0]
    rows = {a.filename: a for a in Attachment.objects.filter(message=message)}
    assert set(rows) == {BIG_NAME, SCAN_NAME, "logo.png"}
    big = rows[BIG_NAME]
    assert (big.content_type, big.size, big.part, big.inline) == ("application/pdf", 28 * MB, "2", False)
    assert (rows["logo.png"].inline, rows["logo.png"].content_id) == (True, INLINE_CID)
    assert Conversation.objects.get(pk=message.conversation_id).has_attachments

    _download_all(alice, message.pk, expected)
    assert gmail.count("messages.attachments.get", status=200) == 3
    assert gmail.gets_of(gmail_id, fmt="raw") == []


def test_an_over_cap_gmail_message_keeps_encoded_names_inline_parts_and_decodes_in_slices(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice, media, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(store, "MAX_FETCH_BYTES", 100 * 1024)
    monkeypatch.setattr(attachment_data, "DECODE_CHUNK", 4 * 1000)  # the 300 KB file in 100 slices
    raw, expected = too_large_message(to=alice_gmail.account.address, file_size=300_000)
    gmail_id = alice_gmail.mailbox.deliver(raw)

    assert pull_account(alice_gmail.account.pk).report.created == 1  # type: ignore[union-attr]

    message = ProviderRef.objects.get(account=alice_gmail.account, key=gmail_id).message
    assert message.text.strip() == BIG_TEXT and f"cid:{INLINE_CID}" in message.html
    assert "0.4 MB is above the 100 KB import limit" in message.parse_problems[0]
    assert [(a["filename"], a["part"], a["inline"], a["size"]) for a in message.attachments] == [
        ("logo.png", "1.2.2", True, len(LOGO)),
        (BIG_NAME, "2", False, 300_000),
        (SCAN_NAME, "3", False, len(CHART)),
    ]
    assert all(a["provider_id"] for a in message.attachments)
    _download_all(alice, message.pk, expected)


def test_the_data_field_is_decoded_from_the_answers_bytes_in_any_key_order_and_strictly(
    monkeypatch: pytest.MonkeyPatch,
):
    import base64
    import json

    from sync.errors import ProviderPermanentError

    monkeypatch.setattr(attachment_data, "DECODE_CHUNK", 8)
    data = bytes(range(256)) * 3
    encoded = base64.urlsafe_b64encode(data).decode().rstrip("=")
    for answer in (
        {"attachmentId": "ANGjdJ_data", "size": len(data), "data": encoded},
        {"data": encoded, "size": len(data)},
    ):
        raw = json.dumps(answer, indent=1).encode()
        assert b"".join(attachment_data.decode_data_field(raw)) == data
    assert b"".join(attachment_data.decode_data_field(b'{"size": 0}')) == b""
    with pytest.raises(ProviderPermanentError):
        b"".join(attachment_data.decode_data_field(b'{"size": 12, "data": "QUJD*EVG"}'))
    with pytest.raises(ProviderPermanentError):
        b"".join(attachment_data.decode_data_field(b'{"size": 12}'))
