"""The hostile MIME corpus (tests/security/hostile_mime.py) through the real ingest.

Every message is stored (with its problems listed) or quarantined with a reason — none
crashes the store step — and the mailbox keeps syncing afterwards. Speed per message is
measured by bench/hostile_mime.py, not asserted here.
"""

from __future__ import annotations

import pytest

from inbox.models import Message, Participant
from inbox.types import RefData
from sync.models import QuarantinedMessage
from sync.store import StoreOutcome, store_raw_message
from tests.security.hostile_mime import CASES

pytestmark = pytest.mark.django_db


def _ref(uid: int) -> RefData:
    return RefData(key=f"imap:INBOX:7:{uid}", folder="INBOX", uidvalidity=7, uid=uid)


def _store(account, name: str, uid: int) -> StoreOutcome:  # type: ignore[no-untyped-def]
    return store_raw_message(account, CASES[name](), _ref(uid))


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_every_hostile_message_is_stored_or_quarantined_with_a_reason_and_sync_goes_on(alice_mailbox):
    assert len(CASES) >= 50
    outcomes: dict[str, StoreOutcome] = {}
    for uid, name in enumerate(CASES, start=1):
        outcomes[name] = _store(alice_mailbox, name, uid)  # raises = a crash: the test fails here

    assert set(outcomes.values()) <= {StoreOutcome.CREATED, StoreOutcome.QUARANTINED, StoreOutcome.DUPLICATE}
    quarantined = QuarantinedMessage.objects.filter(account=alice_mailbox)
    assert quarantined.count() == list(outcomes.values()).count(StoreOutcome.QUARANTINED)
    assert all(row.reason.strip() for row in quarantined)
    stored = list(outcomes.values()).count(StoreOutcome.CREATED)
    counts = f"{len(CASES)} tried, {stored} stored, {quarantined.count()} quarantined, 0 crashed"
    print(f"\nhostile MIME: {counts}")
    assert stored >= len(CASES) - 5  # the corpus is meant to be readable: quarantine is the exception

    # The mailbox goes on: an ordinary message after all of them is stored as usual.
    ordinary = (
        b"From: dana@client.test\r\nTo: alice@acme.test\r\nSubject: after the storm\r\n"
        b"Message-ID: <calm@client.test>\r\n\r\nhello\r\n"
    )
    assert store_raw_message(alice_mailbox, ordinary, _ref(10_000)) == StoreOutcome.CREATED
    assert Message.objects.get(message_id="<calm@client.test>").text.strip() == "hello"


def test_stored_hostile_text_has_no_nul_bytes_and_no_line_breaks_in_headers(alice_mailbox):
    for uid, name in enumerate(CASES, start=1):
        if "nul" in name or "injection" in name or "control" in name:
            assert _store(alice_mailbox, name, uid) == StoreOutcome.CREATED, name
    for message in Message.objects.filter(conversation__account=alice_mailbox):
        for value in (message.subject, message.text, message.html, message.from_name, message.from_address):
            assert "\x00" not in value
        assert "\r" not in message.subject and "\n" not in message.subject
        assert "\n" not in message.from_name


def test_an_encoded_line_break_in_a_header_does_not_add_a_recipient(alice_mailbox):
    assert _store(alice_mailbox, "header-injection-encoded-crlf", 1) == StoreOutcome.CREATED
    message = Message.objects.get(conversation__account=alice_mailbox)
    assert message.subject == "hi Bcc: victim@acme.test"
    assert not Participant.objects.filter(address="victim@acme.test").exists()
    assert all(a["email"] != "victim@acme.test" for a in [*message.to, *message.cc])


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_a_25_mb_attachment_is_listed_with_its_size_and_the_text_kept(alice_mailbox):
    assert _store(alice_mailbox, "attachment-25mb", 1) == StoreOutcome.CREATED
    message = Message.objects.get(conversation__account=alice_mailbox)
    assert message.text == "see the attached file"
    assert [(a["filename"], a["size"]) for a in message.attachments] == [("big.zip", 25 * 1024 * 1024)]


def test_lying_and_unknown_charsets_still_give_readable_text(alice_mailbox):
    for uid, name in enumerate(("unknown-charset", "lying-utf8-is-latin1", "lying-ascii-is-utf8"), start=1):
        assert _store(alice_mailbox, name, uid) == StoreOutcome.CREATED
    texts = {m.subject: m.text for m in Message.objects.filter(conversation__account=alice_mailbox)}
    assert texts["hostile unknown-charset"].startswith("caf")
    assert "talt, caf" in texts["hostile lying-utf8-is-latin1"]
    assert "sum" in texts["hostile lying-ascii-is-utf8"]


def test_html_with_script_is_stored_as_sent_and_made_safe_only_when_shown(alice_mailbox):
    # Storage keeps the original; the sanitizer (web.rendering) runs at display time.
    from web.rendering import email_document

    assert _store(alice_mailbox, "script-in-html", 1) == StoreOutcome.CREATED
    message = Message.objects.get(conversation__account=alice_mailbox)
    shown = email_document(message.html).document.split("<body>", 1)[1]
    assert "<script" not in shown and "onerror" not in shown and "hi" in shown
