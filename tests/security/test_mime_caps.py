"""Caps in sync/mime.py that keep a hostile message from costing seconds to parse.

Each cap reads the message the cheap way and says so in ``problems``; ordinary mail is
read in full as before.
"""

from __future__ import annotations

import pytest

from inbox.types import RefData
from sync.mime import (
    MAX_ADDRESSES,
    MAX_HEADER_CHARS,
    MAX_MIME_PARTS,
    MessageTooComplex,
    count_mime_parts,
    parse_message,
)
from sync.models import QuarantinedMessage
from sync.store import StoreOutcome, store_raw_message
from tests.security.hostile_mime import CASES, _many_parts, _multipart, _nested, _text_part


def test_thousands_of_parts_are_read_from_the_headers_only_and_say_so():
    parsed = parse_message(CASES["parts-5000"]())
    assert parsed.subject == "hostile parts-5000"
    assert parsed.message_id == "<parts-5000@hostile.test>"
    assert parsed.text == "" and parsed.attachments == []
    assert any("5,001 MIME parts" in p and "only the headers" in p for p in parsed.problems)


def test_a_nesting_bomb_is_quarantined_at_once_with_the_reason(alice_mailbox):
    raw = _nested("deep", 2000)
    ref = RefData(key="imap:INBOX:1:9", folder="INBOX", uidvalidity=1, uid=9)
    with pytest.raises(MessageTooComplex):
        count_mime_parts(raw)
    assert store_raw_message(alice_mailbox, raw, ref) == StoreOutcome.QUARANTINED
    reason = QuarantinedMessage.objects.get(account=alice_mailbox, provider_key=ref.key).reason
    assert "2,000 multipart boundaries (more than 500)" in reason


def test_nesting_of_a_few_hundred_levels_is_read_from_the_headers_only():
    parsed = parse_message(_nested("deep", 300))
    assert parsed.subject == "hostile deep"
    assert any("600 MIME parts" in p for p in parsed.problems)


def test_a_message_just_under_the_part_cap_is_read_in_full():
    parsed = parse_message(_many_parts("under", MAX_MIME_PARTS - 1))
    assert f"part {MAX_MIME_PARTS - 2}" in parsed.text
    assert not any("MIME parts" in p for p in parsed.problems)


def test_boundaries_that_prefix_each_other_are_not_counted_twice():
    # "n1" is a prefix of "n10".."n19": only whole delimiter lines count.
    raw = _nested("prefixes", 20)
    assert count_mime_parts(raw) == 0  # cheap bound: far below the cap
    many = _multipart("p", [_text_part("x")] * (MAX_MIME_PARTS // 2), boundary="n1")
    many += _multipart("q", [_text_part("y")] * 10, boundary="n10")
    assert count_mime_parts(many * 2) == 2 * (MAX_MIME_PARTS // 2 + 1 + 11)


def test_an_encoded_word_bomb_subject_is_cut_and_decoded():
    parsed = parse_message(CASES["encoded-word-bomb-10000"]())
    assert parsed.subject.startswith("bömb bömb")
    assert len(parsed.subject) <= 998
    assert any(f"Subject header cut at {MAX_HEADER_CHARS:,}" in p for p in parsed.problems)


def test_a_huge_references_header_keeps_its_newest_ids_for_threading():
    parsed = parse_message(CASES["references-20000"]())
    assert parsed.references[-1] == "<r19999@x>"
    assert len(parsed.references) == 100


def test_thousands_of_recipients_keep_the_first_thousand():
    parsed = parse_message(CASES["to-5000-addresses"]())
    assert len(parsed.cc) == MAX_ADDRESSES
    assert parsed.cc[0].email == "u0@x.test" and parsed.cc[-1].email == f"u{MAX_ADDRESSES - 1}@x.test"
    assert any("5,000 addresses" in p for p in parsed.problems)


def test_a_charset_name_with_a_nul_byte_is_decoded_leniently_instead_of_failing():
    parsed = parse_message(CASES["charset-injection"]())
    assert parsed.text == "hi"
    assert any("decoded leniently" in p for p in parsed.problems)
