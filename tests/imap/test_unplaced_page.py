"""The status page's "Messages that left their folder" section on a phone: readable at 390 px
(nothing cut off or scrolled sideways) and reachable by keyboard."""

from __future__ import annotations

import pytest

from inbox.models import Message
from sync.models import UnplacedMessage
from tests.factories import receive

pytestmark = pytest.mark.django_db(transaction=True)

LONG_REASON = (
    "not deleted: the check could not look everywhere — could not open 'Clients/Europe/Key "
    "accounts/Archive 2025': NO [NOPERM] Permission denied; the folder list changed since it was last seen"
)


def test_unplaced_messages_fit_a_390px_screen(open_as, alice, alice_mailbox):  # type: ignore[no-untyped-def]
    receive(alice_mailbox, subject="A very long subject line about the renewal of the enterprise contract")
    message = Message.objects.get(account=alice_mailbox)
    UnplacedMessage.objects.create(
        account=alice_mailbox,
        message=message,
        message_id_header=message.message_id,
        keys=["imap:INBOX:1:1"],
        checks=3,
        reason=LONG_REASON,
    )

    page = open_as(alice, f"/settings/email-sync/accounts/{alice_mailbox.pk}/status/", width=390, height=844)

    section = page.locator('[data-section="unplaced"]')
    item = section.locator(f'[data-unplaced="{message.message_id}"]')
    assert "the last one incomplete" in item.inner_text() and "NOPERM" in item.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    for part in (item, section.locator('[data-rule="imap-deletion"]')):
        box = part.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    # The section is plain text: tabbing through the page never gets stuck in it, and the
    # page's own controls (the Settings link above it) still take a visible focus.
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement && document.activeElement.tagName")
    assert focused in ("A", "BUTTON", "INPUT")
