"""Attachments of Gmail mail: ``messages.get(format=full)`` finds the part's current
attachmentId, ``messages.attachments.get`` gives the bytes; kept files need no Gmail call."""

from __future__ import annotations

import pytest
from django.test import Client

from inbox.models import Attachment, Message
from inbox.services import delete_conversations
from sync.pull import pull_account
from tests.attachment_mail import (
    EXPECTED,
    INLINE_CID,
    assert_downloads_match,
    assert_inline_logo_shown,
    conversation_path,
    export_message,
    kept_files,
)
from tests.fakes.gmail_server import FakeGmail
from tests.gmail.conftest import GmailSetup

pytestmark = pytest.mark.django_db


def test_gmail_attachments_download_byte_for_byte_and_are_fetched_once(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "attachments"
    alice_gmail.mailbox.deliver(export_message(to=alice_gmail.account.address))
    pull_account(alice_gmail.account.pk)
    message = Message.objects.get(account=alice_gmail.account)
    rows = list(Attachment.objects.filter(message=message).order_by("position"))
    assert [(a.filename, a.part, a.inline, a.content_id) for a in rows] == [
        ("logo.png", "1.2.2", True, INLINE_CID),
        ("export.pdf", "2", False, ""),
        ("chart.png", "3", False, ""),
    ]
    client = Client()
    client.force_login(alice)

    assert_downloads_match(client, message.pk)
    fetched = gmail.count("messages.attachments.get", status=200)
    assert fetched == len(EXPECTED)
    gets = gmail.count("messages.get")

    assert_downloads_match(client, message.pk)
    assert gmail.count("messages.attachments.get") == fetched
    assert gmail.count("messages.get") == gets

    assert len(kept_files(settings.MEDIA_ROOT)) == len(EXPECTED)
    with django_capture_on_commit_callbacks(execute=True):
        delete_conversations(alice, [message.conversation_id])
    assert kept_files(settings.MEDIA_ROOT) == []


@pytest.mark.django_db(transaction=True)
def test_gmail_inline_logo_is_shown_in_chromium(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice, open_as, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "attachments"
    alice_gmail.mailbox.deliver(export_message(to=alice_gmail.account.address))
    pull_account(alice_gmail.account.pk)
    message = Message.objects.get(account=alice_gmail.account)

    page = open_as(alice, conversation_path(message.pk))

    assert_inline_logo_shown(page, "attachments-gmail.png")
    assert gmail.count("messages.attachments.get", status=200) == 1  # the logo, fetched once
