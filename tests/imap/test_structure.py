"""BODYSTRUCTURE → the attachments of a message above the body cap, without a server: the
answers are parsed by imapclient exactly as a FETCH answer is."""

from __future__ import annotations

import base64
import os

from imapclient.response_parser import parse_fetch_response

from sync.providers.imap.structure import decoded_size, leaves, listing


def structure(text: str):  # type: ignore[no-untyped-def]
    answer = parse_fetch_response([f"1 (UID 7 BODYSTRUCTURE {text})".encode()])
    return answer[7][b"BODYSTRUCTURE"]


MIXED = (
    '((("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 40 2 NIL NIL NIL NIL)'
    '("text" "html" ("charset" "utf-8") NIL NIL "quoted-printable" 120 3 NIL NIL NIL NIL) "alternative"'
    ' ("boundary" "b2") NIL NIL NIL)'
    '("image" "png" ("name" "=?utf-8?b?w5xiZXJ3ZWlzdW5nLnBuZw==?=") "<logo@acme.test>" NIL "base64" 780'
    ' NIL ("inline" NIL) NIL NIL)'
    '("application" "pdf" NIL NIL NIL "base64" 39000000 NIL'
    ' ("attachment" ("filename*0*" "utf-8\'\'Offert%20%C3%85ngstr"'
    ' "filename*1*" "%C3%B6m.pdf")) NIL NIL)'
    '("message" "rfc822" NIL NIL NIL "7bit" 5000 ("Tue, 1 Dec 2026 09:00:00 +0000" "Fwd" NIL NIL NIL NIL'
    ' NIL NIL NIL "<x@y>") ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 1 NIL NIL NIL NIL) 80 NIL'
    ' ("attachment" ("filename" "forwarded.eml")) NIL NIL)'
    '("application" "octet-stream" ("name" "x") NIL NIL "base64" 100 NIL'
    ' ("attachment" ("filename" "evil\\"\\r\\nContent-Type: text/html")) NIL NIL)'
    ' "mixed" ("boundary" "b1") NIL NIL NIL)'
)


def test_parts_are_numbered_as_a_fetched_message_and_an_attached_message_is_one_file():
    sections = [(p.section, p.content_type) for p in leaves(structure(MIXED))]
    assert sections == [
        ("1.1", "text/plain"),
        ("1.2", "text/html"),
        ("2", "image/png"),
        ("3", "application/pdf"),
        ("4", "message/rfc822"),
        ("5", "application/octet-stream"),
    ]


def test_names_inline_parts_and_sizes_come_from_the_structure_with_rfc_2231_and_2047_decoded():
    found = listing(structure(MIXED))
    assert [p.section for p in found.texts] == ["1.1", "1.2"]
    listed = {a["part"]: a for a in found.attachments}
    assert listed["2"]["filename"] == "Überweisung.png"
    assert (listed["2"]["inline"], listed["2"]["content_id"]) == (True, "logo@acme.test")
    assert listed["3"]["filename"] == "Offert Ångström.pdf" and listed["3"]["inline"] is False
    assert listed["3"]["size"] == decoded_size(39_000_000, "base64")
    assert (listed["4"]["filename"], listed["4"]["content_type"]) == ("forwarded.eml", "message/rfc822")


def test_a_hostile_parameter_cannot_add_a_header_or_change_the_type():
    listed = {a["part"]: a for a in listing(structure(MIXED)).attachments}
    assert listed["5"]["content_type"] == "application/octet-stream"
    assert "\r" not in str(listed["5"]["filename"]) and "\n" not in str(listed["5"]["filename"])


def test_text_parts_beyond_the_budget_are_not_fetched_and_a_single_part_body_is_text():
    single = structure('("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 30000 400 NIL NIL NIL NIL)')
    assert [(p.section, p.size) for p in listing(single).texts] == [("1", 30_000)]
    assert listing(single, text_budget=1024).texts == []
    assert listing(single).attachments == []
    assert [p.section for p in listing(structure(MIXED), text_budget=100).texts] == ["1.1"]


def test_the_decoded_size_of_a_base64_part_is_within_a_thousandth():
    data = os.urandom(3_000_001)
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    assert abs(decoded_size(len(encoded), "base64") - len(data)) < len(data) / 1000
    assert decoded_size(1234, "7bit") == 1234
