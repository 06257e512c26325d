"""MIME parsing with the standard email package: what a sync stores from real-world mail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox.models import Message
from inbox.types import RefData
from sync.mime import clean_text, parse_message, text_from_html
from sync.models import QuarantinedMessage
from sync.store import StoreOutcome, store_raw_message

MULTIPART = b"""From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <Joerg@Client.TEST>
To: rep@example.test, "Doe, Jane" <jane@client.test>
Cc: boss@client.test
Subject: =?utf-8?q?Offert_f=C3=B6r_40_licenser?=
Date: Tue, 03 Jun 2025 10:15:00 +0200
Message-ID: <offer-1@client.test>
In-Reply-To: <question-1@example.test>
References: <start@example.test>
 <question-1@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Hej, h=E4r =E4r offerten.
--inner
Content-Type: text/html; charset=utf-8

<html><head><style>p{}</style></head><body><p>Hej, h\xc3\xa4r \xc3\xa4r <b>offerten</b>.</p></body></html>
--inner--
--outer
Content-Type: application/pdf; name="offert.pdf"
Content-Disposition: attachment; filename="offert.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer
Content-Type: image/png
Content-Disposition: inline
Content-ID: <logo@client.test>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--outer--
""".replace(b"\n", b"\r\n")


def test_multipart_message_gives_text_html_attachments_addresses_and_threading_headers():
    parsed = parse_message(MULTIPART, own_addresses=["rep@example.test"])

    assert parsed.message_id == "<offer-1@client.test>"
    assert parsed.in_reply_to == "<question-1@example.test>"
    assert parsed.references == ["<start@example.test>", "<question-1@example.test>"]
    assert parsed.subject == "Offert för 40 licenser"
    assert parsed.sender is not None and (parsed.sender.email, parsed.sender.name) == (
        "joerg@client.test",
        "Jörg Müller",
    )
    assert [(a.email, a.name) for a in parsed.to] == [
        ("rep@example.test", ""),
        ("jane@client.test", "Doe, Jane"),
    ]
    assert [a.email for a in parsed.cc] == ["boss@client.test"]
    assert parsed.date == datetime(2025, 6, 3, 8, 15, tzinfo=UTC)
    assert parsed.text.strip() == "Hej, här är offerten."
    assert "<b>offerten</b>" in parsed.html
    assert parsed.attachments == [
        {
            "filename": "offert.pdf",
            "content_type": "application/pdf",
            "size": 9,
            "inline": False,
            "content_id": "",
            "part": "2",
            "transfer_encoding": "base64",
        },
        {
            "filename": "(unnamed)",
            "content_type": "image/png",
            "size": 8,
            "inline": True,
            "content_id": "logo@client.test",
            "part": "3",
            "transfer_encoding": "base64",
        },
    ]
    assert parsed.incoming is True and parsed.problems == []


def test_message_from_the_account_address_is_outgoing():
    raw = b"From: Rep <REP@example.test>\r\nTo: a@client.test\r\nSubject: Hi\r\n\r\nHello\r\n"
    assert parse_message(raw, own_addresses=["rep@example.test"]).incoming is False
    assert parse_message(raw, own_addresses=["other@example.test"]).incoming is True


def test_html_only_message_gets_a_text_version_for_snippets():
    raw = (
        b"From: a@client.test\r\nSubject: Hi\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<div>Line one<br>Line&nbsp;two</div><script>alert(1)</script>"
    )
    parsed = parse_message(raw)
    assert parsed.text == "Line one\nLine\xa0two"


def test_broken_input_is_stored_leniently_with_the_problems_listed():
    raw = (
        b"From: not an address at all\r\nTo: ok@client.test\r\nSubject: Caf\xe9 \x00menu\r\n"
        b"Date: Someday\r\nContent-Type: text/plain; charset=klingon\r\n\r\nBody\x00text \xff\r\n"
    )
    parsed = parse_message(raw, fallback_date=datetime(2024, 1, 2, tzinfo=UTC))

    assert parsed.sender is None and [a.email for a in parsed.to] == ["ok@client.test"]
    assert parsed.subject == "Café menu"
    assert parsed.date == datetime(2024, 1, 2, tzinfo=UTC)
    assert "\x00" not in parsed.text and parsed.text.startswith("Bodytext")
    assert parsed.message_id == ""
    joined = " | ".join(parsed.problems)
    assert "no Message-ID" in joined and "Date" in joined and "decoded leniently" in joined


def test_headers_shared_between_messages_give_each_message_its_own_reading():
    """Parsed headers are reused across messages (sync.mime._Policy): a second message with
    the same broken headers reports the same problems, and the good one next to it none."""
    broken = (
        b"From: not an address at all\r\nTo: ok@client.test\r\nSubject: Menu\r\n"
        b"Date: Someday\r\nContent-Type: text/plain; charset=klingon\r\n\r\nBody\r\n"
    )
    fallback = datetime(2024, 1, 2, tzinfo=UTC)

    first = parse_message(broken, fallback_date=fallback)
    good = parse_message(MULTIPART, own_addresses=["rep@example.test"])
    second = parse_message(broken, fallback_date=fallback)

    assert first == second and first.problems and first.sender is None
    assert good.problems == [] and good.subject == "Offert för 40 licenser"


def test_clean_text_removes_what_postgres_refuses():
    assert clean_text("a\x00b") == "ab"
    assert clean_text(b"caf\xc3\xa9".decode("ascii", "surrogateescape")) == "café"
    assert clean_text(b"caf\xe9".decode("ascii", "surrogateescape")) == "café"


def test_text_from_html_skips_styles_and_scripts():
    assert text_from_html("<style>x{}</style><p>A</p><p>B</p>") == "A\n\nB"


@pytest.mark.django_db
def test_store_quarantines_what_cannot_be_parsed_and_keeps_the_bytes(alice_mailbox):
    nested = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(3000))
    raw = ("Subject: deep\r\n" + nested).encode()  # deeper than the email package can recurse
    ref = RefData(key="imap:INBOX:1:5", folder="INBOX", uidvalidity=1, uid=5)

    assert store_raw_message(alice_mailbox, raw, ref) == StoreOutcome.QUARANTINED
    row = QuarantinedMessage.objects.get(account=alice_mailbox)
    assert row.provider_key == "imap:INBOX:1:5" and row.size == len(raw) and bytes(row.raw) == raw

    # Once the message can be stored (here: a fixed copy), the quarantine entry goes.
    fixed = b"From: a@client.test\r\nSubject: deep\r\nMessage-ID: <deep@x>\r\n\r\nok\r\n"
    assert store_raw_message(alice_mailbox, fixed, ref) == StoreOutcome.CREATED
    assert not QuarantinedMessage.objects.exists()
    assert Message.objects.get(account=alice_mailbox).subject == "deep"
