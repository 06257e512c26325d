"""The plain-text-part shortcut of ``sync.mime`` gives exactly what the full path gives.

``_walk_body`` reads a part declared as "text/plain; charset=utf-8" (or us-ascii,
iso-8859-1; html too), without a transfer encoding that changes its bytes and without a
Content-Disposition, from its raw headers instead of the ``email`` package's content
manager. Each test parses the same bytes twice — with the shortcut, and with it turned off
(``_simple_text`` answering None, so every part takes ``is_attachment`` and ``get_content``)
— and the two ``ParsedMessage`` must be equal, field by field.
"""

from __future__ import annotations

import base64
import random

import pytest

import sync.mime
from sync.mime import count_mime_parts, parse_message
from tests.security.hostile_mime import CASES
from tests.test_mime_fast_paths import _parsed

# The big cases take seconds each and hold no plain text parts worth the time.
_BIG = {"nested-2000", "parts-5000", "attachments-3000", "attachment-25mb", "subject-1mb"}


def both_ways(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:  # type: ignore[type-arg]
    quick = _parsed(raw)
    with monkeypatch.context() as patched:
        patched.setattr(sync.mime, "_simple_text", lambda part: None)
        full = _parsed(raw)
    return quick, full


HEADERS = (
    b"From: Bob <bob@client.test>\r\nTo: alice@acme.test\r\nSubject: Seats\r\n"
    b"Message-ID: <q1@client.test>\r\n"
)

CONTENT_TYPES = [
    b"text/plain; charset=utf-8",
    b"text/plain; charset=UTF-8",
    b"TEXT/Plain; CHARSET=Utf-8",
    b'text/plain; charset="utf-8"',
    b'text/plain; charset="utf-8',
    b'text/plain; charset=utf-8"',
    b"text/plain;charset=us-ascii",
    b"text/plain;  charset=us-ascii",
    b"text/plain ; charset=us-ascii",
    b"text/plain; charset=iso-8859-1",
    b"text/plain; charset=ISO-8859-1",
    b"text/plain; charset=latin-1",
    b"text/plain; charset=utf8",
    b"text/plain; charset=utf-16",
    b"text/plain; charset=x-unknown",
    b"text/plain; charset=utf-8; format=flowed",
    b'text/plain; charset=utf-8; name="quote.txt"',
    b"text/plain; name=quote.txt; charset=utf-8",
    b"text/plain; charset*=utf-8''utf-8",
    b"text/plain; charset=utf-8 (comment)",
    b"text/plain",
    b"text/html; charset=utf-8",
    b"text/html; charset=us-ascii",
    b"text/csv; charset=utf-8",
    b"text/plain/x; charset=utf-8",
    b"application/octet-stream; charset=utf-8",
    b"text/plain; charset=utf-8\r\n\tfoo=bar",
    b"text/plain;\r\n charset=utf-8",
]

ENCODINGS = [
    None,
    b"7bit",
    b"8bit",
    b"8BIT",
    b"binary",
    b"7bit ",
    b"quoted-printable",
    b"base64",
    b"x-uuencode",
    b"x-other",
]

DISPOSITIONS = [
    None,
    b"inline",
    b"attachment",
    b'inline; filename="quote.txt"',
    b"attachment; filename=q.txt",
]

BODIES = [
    b"Hello Alice,\r\n\r\nthe price for 25 seats, please.\r\n",
    b"Hello\nAlice\n",
    b"Hello\rAlice\r",
    b"Caf\xc3\xa9 cr\xc3\xa8me\r\n",
    b"Caf\xe9 latin-1 bytes\r\n",
    b"broken \xc3\x28 utf-8 \xff\r\n",
    b"nul \x00 byte\r\n",
    b"price=3D10 and =E9\r\n",
    b"SGVsbG8gQWxpY2U=\r\n",
    b"<p>Hello <b>Alice</b></p>\r\n",
    b"",
]


def single(
    content_type: bytes | None, encoding: bytes | None, disposition: bytes | None, body: bytes
) -> bytes:
    """A whole message: the common headers, then the part's."""
    return HEADERS.rstrip(b"\r\n") + b"\r\n" + part(content_type, encoding, disposition, body)


def part(content_type: bytes | None, encoding: bytes | None, disposition: bytes | None, body: bytes) -> bytes:
    lines = []
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type)
    if encoding is not None:
        lines.append(b"Content-Transfer-Encoding: " + encoding)
    if disposition is not None:
        lines.append(b"Content-Disposition: " + disposition)
    return b"\r\n".join([*lines, b"", body])


def multipart(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(b"--b1\r\n" + p + b"\r\n" for p in parts)
    return HEADERS + b"Content-Type: multipart/" + kind + b'; boundary="b1"\r\n\r\n' + body + b"--b1--\r\n"


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_a_single_part_message_reads_as_the_full_path_reads_it(content_type, monkeypatch):
    for body in BODIES:
        quick, full = both_ways(single(content_type, None, None, body), monkeypatch)
        assert quick == full, body


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("disposition", DISPOSITIONS)
def test_transfer_encodings_and_dispositions_read_as_the_full_path_reads_them(
    encoding, disposition, monkeypatch
):
    for content_type in (b"text/plain; charset=utf-8", b"text/html; charset=us-ascii"):
        for body in BODIES:
            quick, full = both_ways(single(content_type, encoding, disposition, body), monkeypatch)
            assert quick == full, (content_type, body)


@pytest.mark.parametrize("kind", [b"alternative", b"mixed", b"related", b"digest"])
def test_text_parts_of_a_multipart_read_as_the_full_path_reads_them(kind, monkeypatch):
    for content_type in [*CONTENT_TYPES[:12], None]:
        for body in BODIES:
            raw = multipart(
                kind,
                part(content_type, None, None, body),
                part(b"text/html; charset=utf-8", b"8bit", None, b"<p>" + body + b"</p>"),
                part(b"text/plain; charset=utf-8", None, b"attachment", body),
            )
            quick, full = both_ways(raw, monkeypatch)
            assert quick == full, (content_type, body)


def test_a_duplicated_content_type_reads_as_the_full_path_reads_it(monkeypatch):
    # The first value is the one the email package reads, whatever follows.
    for first, second in [
        (b"text/plain; charset=utf-8", b"application/pdf"),
        (b"application/pdf", b"text/plain; charset=utf-8"),
    ]:
        raw = HEADERS + b"Content-Type: " + first + b"\r\nContent-Type: " + second + b"\r\n\r\nHello\r\n"
        quick, full = both_ways(raw, monkeypatch)
        assert quick == full, (first, second)
    raw = HEADERS + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n"
    raw += b"Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8=\r\n"
    quick, full = both_ways(raw, monkeypatch)
    assert quick == full


def test_text_inside_an_attached_message_reads_as_the_full_path_reads_it(monkeypatch):
    inner = single(b"text/plain; charset=utf-8", b"8bit", None, b"Caf\xc3\xa9\r\n")
    raw = multipart(
        b"mixed",
        part(b"text/plain; charset=us-ascii", None, None, b"See below"),
        part(b"message/rfc822", None, None, inner),
    )
    quick, full = both_ways(raw, monkeypatch)
    assert quick == full


@pytest.mark.parametrize("seed", range(4))
def test_random_text_parts_read_as_the_full_path_reads_them(seed, monkeypatch):
    rng = random.Random(seed)
    for _ in range(120):
        parts = [
            part(
                rng.choice([*CONTENT_TYPES, None]),
                rng.choice(ENCODINGS),
                rng.choice(DISPOSITIONS),
                rng.choice(BODIES) + rng.randbytes(rng.randint(0, 8)),
            )
            for _ in range(rng.randint(1, 4))
        ]
        raw = multipart(rng.choice([b"alternative", b"mixed", b"digest"]), *parts)
        quick, full = both_ways(raw, monkeypatch)
        assert quick == full, parts


def bench_like(rng: random.Random) -> bytes:
    """The three shapes of bench/imap_initial_sync.py's mailbox (not imported: that module sets
    up a database when imported): plain text, text + HTML alternative, text + a base64 file."""
    paragraph = " ".join(rng.choice(["price", "seats", "contract", "demo"]) for _ in range(60)).encode()
    kind = rng.random()
    if kind < 0.7:
        return single(
            b"text/plain; charset=utf-8", None, None, b"\r\n\r\n".join([paragraph] * rng.randint(2, 8))
        )
    if kind < 0.92:
        html = b"<html><body>" + b"".join(b"<p>" + paragraph + b"</p>" for _ in range(3)) + b"</body></html>"
        return multipart(
            b"alternative",
            part(b"text/plain; charset=utf-8", None, None, paragraph),
            part(b"text/html; charset=utf-8", None, None, html),
        )
    blob = base64.encodebytes(rng.randbytes(rng.randint(30_000, 60_000))).replace(b"\n", b"\r\n")
    return multipart(
        b"mixed",
        part(b"text/plain; charset=utf-8", None, None, paragraph),
        part(b'application/pdf; name="offer.pdf"', b"base64", b'attachment; filename="offer.pdf"', blob),
    )


def test_messages_like_the_initial_sync_benchs_read_as_the_full_path_reads_them(monkeypatch):
    rng = random.Random(7)
    for _ in range(200):
        quick, full = both_ways(bench_like(rng), monkeypatch)
        assert quick == full


@pytest.mark.slow  # the corpus takes a few seconds twice
def test_the_hostile_corpus_parses_as_with_the_full_text_part_path(monkeypatch):
    for name, build in CASES.items():
        if name in _BIG:
            continue
        quick, full = both_ways(build(), monkeypatch)
        assert quick == full, name


def test_the_dash_count_shortcut_keeps_a_part_count_bomb_in_view():
    # Many dashes but few delimiter lines: nothing to count. Many delimiter lines of one
    # boundary: the cheap bound lets them through to the real count.
    assert count_mime_parts(b"Subject: x\r\n\r\n" + b"-" * 5000 + b"\r\n") == 0
    many = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + b"--b\r\n\r\nx\r\n" * 600 + b"--b--\r\n"
    assert count_mime_parts(many) == 601


def test_plain_text_parts_take_the_shortcut(monkeypatch):
    # The comparisons above prove something only if the shortcut answers for these forms.
    answered: list[str] = []
    shortcut = sync.mime._simple_text

    def spy(part):  # type: ignore[no-untyped-def]
        found = shortcut(part)
        if found is not None:
            answered.append(found[0])
        return found

    monkeypatch.setattr(sync.mime, "_simple_text", spy)
    parse_message(single(b"text/plain; charset=utf-8", b"8bit", None, b"Caf\xc3\xa9\r\n"))
    parse_message(multipart(b"alternative", part(b"text/plain; charset=us-ascii", None, None, b"Hi"),
                            part(b'text/html; charset="UTF-8"', b"7bit", None, b"<p>Hi</p>")))  # fmt: skip
    assert answered == ["text/plain", "text/plain", "text/html"]
