"""Attachments of Outlook mail: Graph's attachment list gives the id of the part, and
``/attachments/{id}/$value`` streams its bytes; kept files need no Graph call."""

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
from tests.fakes.graph_server import FakeMicrosoft
from tests.outlook.conftest import outlook_personal

pytestmark = pytest.mark.django_db


def test_outlook_attachments_download_byte_for_byte_and_are_fetched_once(
    ms: FakeMicrosoft, alice, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "attachments"
    account, mailbox = outlook_personal(ms, alice)
    mailbox.deliver(export_message(to=account.address))
    pull_account(account.pk)
    message = Message.objects.get(account=account)
    rows = list(Attachment.objects.filter(message=message).order_by("position"))
    assert [(a.filename, a.inline, a.content_id) for a in rows] == [
        ("logo.png", True, INLINE_CID),
        ("export.pdf", False, ""),
        ("chart.png", False, ""),
    ]
    client = Client()
    client.force_login(alice)

    assert_downloads_match(client, message.pk)
    assert ms.count("attachment", status=200) == len(EXPECTED)
    asked = ms.count("attachments") + ms.count("attachment")

    assert_downloads_match(client, message.pk)
    assert ms.count("attachments") + ms.count("attachment") == asked

    assert len(kept_files(settings.MEDIA_ROOT)) == len(EXPECTED)
    with django_capture_on_commit_callbacks(execute=True):
        delete_conversations(alice, [message.conversation_id])
    assert kept_files(settings.MEDIA_ROOT) == []


@pytest.mark.django_db(transaction=True)
def test_outlook_inline_logo_is_shown_in_chromium(ms: FakeMicrosoft, alice, open_as, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "attachments"
    account, mailbox = outlook_personal(ms, alice)
    mailbox.deliver(export_message(to=account.address))
    pull_account(account.pk)
    message = Message.objects.get(account=account)

    page = open_as(alice, conversation_path(message.pk))

    assert_inline_logo_shown(page, "attachments-outlook.png")
    assert ms.count("attachment", status=200) == 1  # the logo, fetched once
