"""Attachments of IMAP mail on a real Dovecot: fetched by body section on first open,
kept, served again without the server, and removed with their message."""

from __future__ import annotations

import pytest
from django.test import Client

from inbox.models import Attachment, Message
from inbox.services import archive_conversations, delete_conversations
from tests.attachment_mail import (
    EXPECTED,
    INLINE_CID,
    assert_downloads_match,
    export_message,
    kept_files,
)
from tests.imap.conftest import ImapSetup

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


@pytest.fixture
def media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "attachments"
    return settings.MEDIA_ROOT


def test_imap_export_lists_pdf_picture_and_inline_logo_with_their_sections(imap: ImapSetup):
    imap.append("inbox", export_message(to=imap.account.address))
    imap.pull()

    rows = list(Attachment.objects.filter(account=imap.account).order_by("position"))
    assert [(a.filename, a.part, a.inline, a.content_id) for a in rows] == [
        ("logo.png", "1.2.2", True, INLINE_CID),
        ("export.pdf", "2", False, ""),
        ("chart.png", "3", False, ""),
    ]
    assert [a.file.name for a in rows] == ["", "", ""]  # nothing fetched before it is opened


def test_imap_attachments_download_byte_for_byte_then_from_storage_without_the_server(
    imap: ImapSetup, alice, media, django_capture_on_commit_callbacks
):
    imap.append("inbox", export_message(to=imap.account.address))
    imap.pull()
    message = Message.objects.get(account=imap.account)
    client = Client()
    client.force_login(alice)

    assert_downloads_match(client, message.pk)
    assert len(kept_files(media)) == len(EXPECTED)

    # The server refuses the app from now on: kept files are served without asking it.
    imap.account.credentials = {"password": "wrong"}
    imap.account.save(update_fields=["credentials"])
    assert_downloads_match(client, message.pk)

    with django_capture_on_commit_callbacks(execute=True):
        delete_conversations(alice, [message.conversation_id])
    assert kept_files(media) == []


def test_archive_keeps_the_kept_files_and_a_delete_in_the_mail_client_removes_them(
    imap: ImapSetup, alice, media, django_capture_on_commit_callbacks
):
    imap.append("inbox", export_message(to=imap.account.address))
    imap.pull()
    message = Message.objects.get(account=imap.account)
    client = Client()
    client.force_login(alice)
    assert_downloads_match(client, message.pk)

    archive_conversations(alice, [message.conversation_id])
    assert len(kept_files(media)) == len(EXPECTED)
    assert_downloads_match(client, message.pk)

    imap.move(message.message_id, "inbox", "trash")  # deleted in the rep's mail client
    with django_capture_on_commit_callbacks(execute=True):
        imap.pull()
    assert not Message.objects.filter(pk=message.pk).exists()
    assert kept_files(media) == []
