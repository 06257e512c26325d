"""A message above the body cap at Outlook: its headers and text from Graph, its attachments
listed from ``/messages/{id}/attachments`` with ``$select`` (never their ``contentBytes``),
and each downloaded byte for byte from ``/attachments/{id}/$value`` when first opened."""

from __future__ import annotations

import pytest
from django.test import Client

from inbox.models import Attachment, Conversation, Message, ProviderRef
from sync.providers.outlook import pull as outlook_pull
from sync.pull import pull_account
from tests.attachment_mail import (
    BIG_NAME,
    BIG_TEXT,
    INLINE_CID,
    SCAN_NAME,
    attachment_urls,
    download,
    sha,
    too_large_message,
)
from tests.fakes.graph_server import FakeMicrosoft
from tests.outlook.conftest import outlook_personal

pytestmark = pytest.mark.django_db

MB = 1024 * 1024
SELECT = {"id", "name", "contentType", "size", "isInline", "contentId"}


@pytest.fixture
def media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "attachments"
    return settings.MEDIA_ROOT


@pytest.mark.slow  # a 38 MB message in the fake and a 28 MB file read back
def test_an_outlook_message_above_the_body_cap_lists_its_attachments_and_each_downloads_byte_exact(
    ms: FakeMicrosoft, alice, media
):
    account, mailbox = outlook_personal(ms, alice)
    raw, expected = too_large_message(to=account.address)
    graph_id = mailbox.deliver(raw)
    del raw

    assert pull_account(account.pk).report.created == 1  # type: ignore[union-attr]

    message = ProviderRef.objects.get(key=graph_id).message
    assert BIG_TEXT in message.text
    assert "too large to import whole — open in Outlook" in message.parse_problems[0]
    assert ms.attachment_selects == [SELECT]  # listed once, without the bytes
    rows = {a.filename: a for a in Attachment.objects.filter(message=message)}
    assert set(rows) == {BIG_NAME, SCAN_NAME, "logo.png"}
    big = rows[BIG_NAME]
    assert (big.content_type, big.size, big.inline, big.part) == ("application/pdf", 28 * MB, False, "")
    assert big.provider_id and not big.file
    assert (rows["logo.png"].inline, rows["logo.png"].content_id) == (True, INLINE_CID)
    assert Conversation.objects.get(pk=message.conversation_id).has_attachments

    client = Client()
    client.force_login(alice)
    for name, url in attachment_urls(message.pk).items():
        status, body, headers = download(client, url + "?download=1")
        assert status == 200, (name, body[:300])
        assert headers["content-disposition"].startswith("attachment;")
        assert sha(body) == expected[name], name
    assert ms.count("attachment", status=200) == 3
    assert ms.count("attachments") == 1  # the stored ids were used: no second listing
    page = client.get(f"/inbox/c/{message.conversation_id}/").content.decode()
    assert "too large to import whole — open in Outlook" in page and "Offert" in page


def test_a_generated_large_outlook_attachment_is_listed_with_its_size_and_streams_byte_exact(
    ms: FakeMicrosoft, alice, media, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(outlook_pull, "MAX_FETCH_BYTES", 64 * 1024)
    account, mailbox = outlook_personal(ms, alice)
    graph_id = mailbox.deliver_large(3 * MB, subject="Drawings", text="Drawings attached.", to=[alice.email])
    generated = mailbox.messages[graph_id]

    assert pull_account(account.pk).report.created == 1  # type: ignore[union-attr]

    message = Message.objects.get(account=account)
    (row,) = Attachment.objects.filter(message=message)
    assert (row.filename, row.content_type) == ("big.bin", "application/octet-stream")
    assert row.size == generated.generated_size
    client = Client()
    client.force_login(alice)
    status, body, _headers = download(client, attachment_urls(message.pk)["big.bin"])
    assert status == 200 and sha(body) == sha(b"".join(generated._generated()))


def test_an_attachment_id_graph_no_longer_knows_is_found_again_in_the_list(
    ms: FakeMicrosoft, alice, media, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(outlook_pull, "MAX_FETCH_BYTES", 100 * 1024)
    account, mailbox = outlook_personal(ms, alice)
    raw, expected = too_large_message(to=account.address, file_size=300_000)
    mailbox.deliver(raw)
    pull_account(account.pk)
    message = Message.objects.get(account=account)
    Attachment.objects.filter(message=message, filename=BIG_NAME).update(provider_id="AAMkAttGone=")

    client = Client()
    client.force_login(alice)
    status, body, _headers = download(client, attachment_urls(message.pk)[BIG_NAME])

    assert status == 200 and sha(body) == expected[BIG_NAME]
    assert ms.count("attachment", status=404) == 1 and ms.count("attachments") == 2
