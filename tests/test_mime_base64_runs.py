"""Long base64 bodies go to the ``email`` parser as one placeholder line each (``sync.mime.
parse_mime``), and an attachment's size is worked out from its base64 text without decoding
it (``_base64_size``): both must give exactly what the full parse gives.

Each test parses the same bytes both ways — with the shortcuts, and with them turned off
(every message below the size at which runs are looked for; every size decoded) — and
compares the whole MIME tree (every part's headers, payload, preamble, epilogue and
defects) and the ``ParsedMessage``, field by field.
"""

from __future__ import annotations

import base64
import random
from dataclasses import asdict
from datetime import UTC, datetime
from email.message import Message

import pytest

import sync.mime
from sync.mime import parse_message, parse_mime
from tests.security.hostile_mime import CASES

FALLBACK = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# Slow both ways and nothing to do with base64 runs (the 25 MB attachment is kept: it is one).
_SLOW = {"nested-2000", "parts-5000", "attachments-3000", "subject-1mb", "text-body-12mb"}


def tree(msg: Message) -> list[tuple[object, ...]]:
    """Everything the parser decided about a message, part by part."""
    return [
        (
            type(part).__name__,
            part.get_unixfrom(),
            part.get_default_type(),
            [(name, str(value)) for name, value in part._headers],  # type: ignore[attr-defined]
            part._payload if isinstance(part._payload, str) else len(part._payload),  # type: ignore[attr-defined]
            part.preamble,
            part.epilogue,
            [(type(defect).__name__, str(defect)) for defect in part.defects],  # type: ignore[attr-defined]
        )
        for part in msg.walk()
    ]


def full_tree(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    with monkeypatch.context() as patched:
        patched.setattr(sync.mime, "_ELIDE_MIN_BYTES", 1 << 62)
        return tree(parse_mime(raw))


def _parsed(raw: bytes) -> dict:  # type: ignore[type-arg]
    try:
        return asdict(parse_message(raw, own_addresses=("alice@acme.test",), fallback_date=FALLBACK))
    except Exception as exc:
        return {"raised": type(exc).__name__}


def both_ways(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:  # type: ignore[type-arg]
    quick = _parsed(raw)
    with monkeypatch.context() as patched:
        patched.setattr(sync.mime, "_ELIDE_MIN_BYTES", 1 << 62)
        patched.setattr(sync.mime, "_base64_size", lambda part: None)
        full = _parsed(raw)
    return quick, full


def elided(raw: bytes) -> bool:
    """Whether the shortcut was taken (else the tests would compare the full parse with itself)."""
    return len(raw) >= sync.mime._ELIDE_MIN_BYTES and sync.mime._parse_elided(raw) is not None


def b64(size: int, *, seed: int = 1, width: int = 76, ending: bytes = b"\r\n") -> bytes:
    data = random.Random(seed).randbytes(size)
    text = base64.b64encode(data)
    return b"".join(text[i : i + width] + ending for i in range(0, len(text), width))


HEAD = (
    b"From: Dana <dana@client.test>\r\nTo: alice@acme.test\r\nSubject: Offer\r\n"
    b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <offer@client.test>\r\nMIME-Version: 1.0\r\n"
)


def mixed(*parts: bytes, boundary: bytes = b"mix", preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    out = HEAD + b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n' + preamble
    for part in parts:
        out += b"--" + boundary + b"\r\n" + part + b"\r\n"
    return out + b"--" + boundary + b"--\r\n" + epilogue


def file_part(body: bytes, *, content_type: bytes = b"application/pdf", name: bytes = b"offer.pdf") -> bytes:
    return (
        b"Content-Type: " + content_type + b'; name="' + name + b'"\r\n'
        b'Content-Disposition: attachment; filename="' + name + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )


TEXT = b"Content-Type: text/plain; charset=utf-8\r\n\r\nPlease find the offer attached.\r\n"
BIG = 120_000

EDGE_CASES: dict[str, bytes] = {
    "attachment": mixed(TEXT, file_part(b64(BIG))),
    "two-attachments": mixed(TEXT, file_part(b64(BIG)), file_part(b64(BIG, seed=2), name=b"b.pdf")),
    "lf-only": mixed(TEXT, file_part(b64(BIG))).replace(b"\r\n", b"\n"),
    "lone-cr-only": mixed(TEXT, file_part(b64(BIG))).replace(b"\r\n", b"\r"),
    "lf-lines-in-a-crlf-message": mixed(TEXT, file_part(b64(BIG, ending=b"\n"))),
    "lone-cr-lines-then-lf": mixed(TEXT, file_part(b64(BIG, ending=b"\r") + b"\n")),
    "width-64": mixed(TEXT, file_part(b64(BIG, width=64))),
    "uneven-widths": mixed(TEXT, file_part(b64(BIG, width=76)[:-3000] + b64(2000, width=60))),
    "one-short-line-in-the-middle": mixed(TEXT, file_part(b64(BIG)[:7800] + b"QUJD\r\n" + b64(BIG)[7800:])),
    "blank-line-inside": mixed(TEXT, file_part(b64(BIG)[:39000] + b"\r\n" + b64(BIG)[39000:])),
    "no-final-line-ending": mixed(TEXT, file_part(b64(BIG).rstrip(b"\r\n"))),
    "no-blank-line-after-part-headers": mixed(
        TEXT, b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n" + b64(BIG)
    ),
    "base64-text-part": mixed(
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b"".join(base64.b64encode(f"The offer, line {n}. ".encode() * 3) + b"\r\n" for n in range(2000))
    ),
    "text-of-long-words": mixed(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + (b"A" * 70 + b"\r\n") * 1000 + b"Regards\r\n"
    ),
    "single-part-file": HEAD
    + b'Content-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    + b64(BIG),
    "run-in-preamble": mixed(TEXT, preamble=b"This is MIME.\r\n" + b64(BIG)),
    "run-in-epilogue": mixed(TEXT, epilogue=b64(BIG)),
    "run-is-the-epilogue-start": mixed(TEXT) + b64(BIG),
    "nested-multipart": mixed(
        b'Content-Type: multipart/mixed; boundary="inner"\r\n\r\n--inner\r\n'
        + file_part(b64(BIG))
        + b"\r\n--inner--\r\n",
        file_part(b64(BIG, seed=3)),
    ),
    "inner-close-boundary-missing": mixed(
        b'Content-Type: multipart/mixed; boundary="inner"\r\n\r\n--inner\r\n' + file_part(b64(BIG))
    ),
    "close-boundary-missing": HEAD
    + b'Content-Type: multipart/mixed; boundary="mix"\r\n\r\n--mix\r\n'
    + file_part(b64(BIG)),
    "start-boundary-missing": HEAD + b'Content-Type: multipart/mixed; boundary="mix"\r\n\r\n' + b64(BIG),
    "multipart-without-boundary": HEAD + b"Content-Type: multipart/mixed\r\n\r\n" + b64(BIG),
    "attached-message": mixed(
        TEXT,
        b"Content-Type: message/rfc822\r\n\r\n"
        + b"Subject: forwarded\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b64(BIG),
    ),
    "attached-message-without-headers": mixed(TEXT, b"Content-Type: message/rfc822\r\n\r\n" + b64(BIG)),
    "delivery-status": mixed(
        TEXT,
        b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n"
        + b64(BIG)
        + b"\r\nFinal-Recipient: rfc822; a@b.test\r\n"
        + b64(BIG, seed=4)
        + b"\r\n"
        + b64(BIG, seed=5),
    ),
    "digest": mixed(
        b'Content-Type: multipart/digest; boundary="d"\r\n\r\n--d\r\n\r\n' + b64(BIG) + b"\r\n--d--\r\n"
    ),
    "broken-padding": mixed(TEXT, file_part(b64(BIG).rstrip(b"\r\n=") + b"\r\n")),
    "stray-characters": mixed(TEXT, file_part(b64(BIG)[:50000] + b"*!\r\n" + b64(BIG)[50000:])),
    "padding-in-the-middle": mixed(TEXT, file_part(b64(BIG, seed=6)[:-1] + b64(BIG, seed=7))),
    "eight-bit-bytes-around": mixed(
        b"Content-Type: text/plain; charset=latin-1\r\n\r\nCaf\xe9\r\n", file_part(b64(BIG) + b"\xff\xfe\r\n")
    ),
    "placeholder-written-by-the-sender": mixed(
        b"Content-Type: text/plain\r\n\r\nSiElidedBase64Run0Z\r\n", file_part(b64(BIG))
    ),
    "quoted-printable-lines": mixed(
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        + (b"Offer=3D" + b"x" * 64 + b"=\r\n") * 2000
    ),
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_messages_with_long_base64_runs_parse_as_the_full_parse_does(name, monkeypatch):
    raw = EDGE_CASES[name]
    assert tree(parse_mime(raw)) == full_tree(raw, monkeypatch)
    quick, full = both_ways(raw, monkeypatch)
    assert quick == full


@pytest.mark.parametrize(
    "name",
    ["attachment", "lf-only", "lone-cr-only", "nested-multipart", "attached-message", "delivery-status"],
)
def test_an_attachments_base64_lines_are_read_as_one_line(name):
    assert elided(EDGE_CASES[name])


def test_a_message_holding_the_placeholder_text_is_parsed_whole():
    assert not elided(EDGE_CASES["placeholder-written-by-the-sender"])


def test_an_attachments_size_is_its_decoded_size():
    sizes = [a["size"] for a in parse_message(EDGE_CASES["two-attachments"]).attachments]
    assert sizes == [BIG, BIG]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"QQ==",
        b"QUI=",
        b"QUJD",
        b"QUJD\r\nRA==\r\n",
        b"QQ",
        b"QQ=",
        b"Q===",
        b"====",
        b"QQ==QUJD",
        b"QUJD RA==",
        b"QUJD\r\n\r\nRA==",
        b"QUJ-RA==",
        b"QUJD\x00RA==",
        b"QUJ\xc3\xa9RA==",
        b"A",
        b"AB\r\nC",
        b"QUJDRA===",
        # Lone CRs, bare LFs and blank lines: the lines are joined by deleting every CR and LF.
        b"QUJD\rRA==\r",
        b"QUJD\nRA==\n",
        b"QU\r\rJD\n\r\nRA==",
        b"\r\nQUJD\r\n",
        b"QUJD\x0bRA==",
        b"QUJD\x0cRA==",
        b"QUJD\x1cRA==",
    ],
)
def test_a_base64_size_without_decoding_matches_the_decoded_size(body, monkeypatch):
    raw = mixed(TEXT, file_part(body))
    quick, full = both_ways(raw, monkeypatch)
    assert quick == full


def _random_message(rng: random.Random) -> bytes:
    """Lines stitched from what the parser cares about: headers, boundaries (declared and
    not), blank lines, text, base64 runs of even and uneven lines, every line ending."""
    boundaries = ["a", "b", "b0"]
    endings = [b"\r\n", b"\n", b"\r"]

    def line(text: bytes) -> bytes:
        return text + rng.choice(endings if rng.random() < 0.2 else [b"\r\n"])

    def run() -> bytes:
        width = rng.choice([8, 60, 64, 76, 76, 76])
        count = rng.randint(1, 400)
        ending = rng.choice(endings)
        text = base64.b64encode(rng.randbytes(width * count // 4 * 3))
        lines = [text[i : i + width] + ending for i in range(0, len(text), width)]
        if rng.random() < 0.3 and lines:
            lines.insert(
                rng.randrange(len(lines)), rng.choice([b"\r\n", b"QQ==\r\n", b"x y\r\n", b"--a\r\n"])
            )
        return b"".join(lines)

    def part(depth: int) -> bytes:
        kind = rng.choice(["text", "file", "multipart", "rfc822", "delivery", "bare"])
        if depth > 2:
            kind = rng.choice(["text", "file", "bare"])
        if kind == "text":
            return line(b"Content-Type: text/plain") + line(b"") + line(b"Hello there") + run()
        if kind == "file":
            headers = line(b"Content-Type: application/pdf") + line(b"Content-Transfer-Encoding: base64")
            return headers + (line(b"") if rng.random() < 0.8 else b"") + run()
        if kind == "rfc822":
            return line(b"Content-Type: message/rfc822") + line(b"") + part(depth + 1)
        if kind == "delivery":
            return (
                line(b"Content-Type: message/delivery-status")
                + line(b"")
                + line(b"Reporting-MTA: dns; x")
                + run()
                + line(b"")
                + run()
            )
        if kind == "bare":
            return run()
        boundary = rng.choice(boundaries).encode()
        out = line(b'Content-Type: multipart/mixed; boundary="' + boundary + b'"') + line(b"")
        if rng.random() < 0.3:
            out += run()  # a preamble
        for _ in range(rng.randint(0, 3)):
            out += line(b"--" + boundary) + part(depth + 1)
        if rng.random() < 0.8:
            out += line(b"--" + boundary + b"--")
        if rng.random() < 0.3:
            out += run()  # an epilogue
        return out

    return HEAD + part(0)


@pytest.mark.parametrize("seed", range(8))
def test_random_messages_parse_as_the_full_parse_does(seed, monkeypatch):
    rng = random.Random(seed)
    # Runs of any length are read as one line here (the real thresholds only save time).
    monkeypatch.setattr(sync.mime, "_ELIDE_MIN_BYTES", 0)
    monkeypatch.setattr(sync.mime, "_ELIDE_MIN_RUN", 1)
    monkeypatch.setattr(sync.mime, "_LONG_LINE", b"a" * 8)
    for _ in range(60):
        raw = _random_message(rng)
        assert tree(parse_mime(raw)) == full_tree(raw, monkeypatch), raw[:2000]
        quick, full = both_ways(raw, monkeypatch)
        assert quick == full, raw[:2000]


@pytest.mark.slow  # the corpus takes a few seconds twice
def test_the_hostile_corpus_parses_as_with_the_full_parse(monkeypatch):
    for name, build in CASES.items():
        if name in _SLOW:
            continue
        raw = build()
        quick, full = both_ways(raw, monkeypatch)
        assert quick == full, name
