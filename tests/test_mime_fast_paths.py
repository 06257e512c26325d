"""The plain-header shortcuts of ``sync.mime`` give exactly what the full header parse gives.

``parse_message`` reads plain ASCII headers (Subject, Message-ID, In-Reply-To, References,
From/To/Cc, Date) without the ``email`` package's structured parser when their form is
narrow enough to know the answer. Each test parses the same bytes twice — with the
shortcuts, and with them turned off (``_plain_value`` answering None, so every header takes
the full parse) — and the two ``ParsedMessage`` must be equal, field by field.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import UTC, datetime

import pytest

import sync.mime
from sync.mime import parse_message
from tests.security.hostile_mime import CASES

# The big cases take seconds each and say nothing about headers.
_BIG = {"nested-2000", "parts-5000", "attachments-3000", "attachment-25mb", "subject-1mb"}


# Where the Date cannot be read: the same instant both ways (not "now", read twice).
FALLBACK = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def both_ways(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """The parse with the shortcuts and without; a parse that raises (the caller quarantines
    the message) gives the exception's type, which must then be the same both ways."""
    quick = _parsed(raw)
    with monkeypatch.context() as patched:
        patched.setattr(sync.mime, "_plain_value", lambda raw: None)
        full = _parsed(raw)
    return quick, full


def _parsed(raw: bytes) -> dict:  # type: ignore[type-arg]
    try:
        return asdict(parse_message(raw, own_addresses=("alice@acme.test",), fallback_date=FALLBACK))
    except Exception as exc:
        return {"raised": type(exc).__name__}


def message(**headers: str) -> bytes:
    lines = [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join([*lines, "Content-Type: text/plain; charset=utf-8", "", "Hello Bob", ""])).encode(
        "utf-8", "surrogateescape"
    )


# Header values near the edges of the shortcuts' forms: each either takes a shortcut and must
# match the full parse, or falls back to it.
ADDRESS_VALUES = [
    "dana@client.test",
    "Dana Scully <dana@client.test>",
    "Dana Scully<dana@client.test>",
    "Dana  Scully <dana@client.test>",
    '"Scully, Dana" <dana@client.test>',
    '"  Dana  " <dana@client.test>',
    '"" <dana@client.test>',
    '"Dana \\"X\\" Scully" <dana@client.test>',
    "Dana.Scully <dana@client.test>",
    "O'Brien <ob@client.test>",
    'Bob <BOB@Client.Test>, carol@else.test, "Eve, E" <eve@else.test>',
    "bob@client.test,carol@else.test",
    "bob@client.test , carol@else.test",
    "bob@client.test,",
    ",bob@client.test",
    "undisclosed-recipients:;",
    "Team: bob@client.test, carol@else.test;",
    "bob@client.test (Bob)",
    "Bob <bob@[127.0.0.1]>",
    "Bob <bob..x@client.test>",
    "Bob <.bob@client.test>",
    "Bob <bob@client..test>",
    "Bob <bob@-client.test>",
    "<bob@client.test>",
    "Bob <bob@client.test",
    "Bob bob@client.test",
    "=?utf-8?q?Dana_S?= <dana@client.test>",
    "Dana =?utf-8?q?S?= <dana@client.test>",
    "Dana\t<dana@client.test>",
    " Dana <dana@client.test> ",
    "bob",
    "@client.test",
    "bob@",
    "",
    "Bob <bob+sales@client.test>",
    "a!#$%&'*+/=?^_`{|}~-b <x!#$%&'*+/=?^_`{|}~-y@client.test>",
    "Caf\udcc3\udca9 <cafe@client.test>",
]
UNSTRUCTURED_VALUES = [
    "Pricing",
    "Re:  Pricing\tfor  2026 ",
    "  leading",
    "=?utf-8?q?Caf=C3=A9?=",
    "Price =? list",
    "Caf\udcc3\udca9",
    "<a@b.test> <c@d.test>",
    "",
    " ",
    "x" * 2000,
]
MESSAGE_ID_VALUES = [
    "<abc@client.test>",
    "<abc.def@client.test>",
    "< abc@client.test>",
    "<abc@client.test> (comment)",
    "abc@client.test",
    "<abc>",
    "<abc@[1.2.3.4]>",
    '<"quoted"@client.test>',
    "<a..b@client.test>",
    "<abc@client.test><def@client.test>",
    "",
    "<=?utf-8?q?x?=@client.test>",
]
DATE_VALUES = [
    "Mon, 02 Mar 2026 10:00:00 +0000",
    "Mon, 02 Mar 2026 10:00:00 -0000",
    "2 Mar 2026 10:00 +0100",
    "Mon, 02 Mar 2026 10:00:00 GMT",
    "Mon, 02 Mar 2026 10:00:00 EST",
    "Mon, 02 Mar 2026 10:00:00",
    "Mon, 02 Mar 26 10:00:00 +0000",
    "Mon, 02 Mar 0069 10:00:00 +0000",
    "Mon, 31 Feb 2026 10:00:00 +0000",
    "yesterday",
    "",
    "Mon, 02 Mar 2026 25:61:00 +0000",
    "Mon, 02 Mar 2026 10:00:00 +9999",
    "Mon, 02 Mar 1960 10:00:00 +0000",
]


@pytest.mark.parametrize("value", ADDRESS_VALUES)
def test_plain_address_headers_read_as_the_full_parse_reads_them(value, monkeypatch):
    raw = message(From=value, To=value, Cc=value, Subject="Hi", Message_ID="<m@client.test>")
    quick, full = both_ways(raw, monkeypatch)
    assert quick == full


@pytest.mark.parametrize("value", UNSTRUCTURED_VALUES)
def test_plain_subject_and_reference_headers_read_as_the_full_parse_reads_them(value, monkeypatch):
    raw = message(From="dana@client.test", Subject=value, In_Reply_To=value, References=value)
    quick, full = both_ways(raw, monkeypatch)
    assert quick == full


@pytest.mark.parametrize("value", MESSAGE_ID_VALUES)
def test_plain_message_ids_read_as_the_full_parse_reads_them(value, monkeypatch):
    quick, full = both_ways(message(From="dana@client.test", Message_ID=value), monkeypatch)
    assert quick == full


@pytest.mark.parametrize("value", DATE_VALUES)
def test_plain_dates_read_as_the_full_parse_reads_them(value, monkeypatch):
    quick, full = both_ways(message(From="dana@client.test", Date=value), monkeypatch)
    assert quick == full


def test_a_folded_plain_header_reads_as_the_full_parse_reads_it(monkeypatch):
    raw = (
        b"From: Dana Scully\r\n <dana@client.test>\r\nTo: bob@client.test,\r\n\tcarol@else.test\r\n"
        b"Subject: a long\r\n subject\r\nReferences: <a@client.test>\r\n <b@client.test>\r\n"
        b"Date: Mon, 02 Mar 2026\r\n 10:00:00 +0000\r\n\r\nbody\r\n"
    )
    quick, full = both_ways(raw, monkeypatch)
    assert quick == full
    assert quick["references"] == ["<a@client.test>", "<b@client.test>"]


@pytest.mark.parametrize("seed", range(5))
def test_random_header_values_read_as_the_full_parse_reads_them(seed, monkeypatch):
    """Values stitched from the characters the shortcuts care about (quotes, brackets, dots,
    commas, spaces, encoded-word markers, 8-bit bytes)."""
    rng = random.Random(seed)
    pieces = ["bob", "Dana", "x.y", "@", "client.test", "<", ">", '"', ",", " ", "  ", "\t", ".", "=?", "?=",
              "(", ")", ":", ";", "\\", "\udcc3", "'", "+", "-", "[", "]"]  # fmt: skip
    for _ in range(150):
        values = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 14))) for _ in range(4)]
        to = f"{values[1]} <bob@client.test>"
        raw = message(From=values[0], To=to, Subject=values[2], Message_ID=f"<{values[3]}>")
        quick, full = both_ways(raw, monkeypatch)
        assert quick == full, values


@pytest.mark.slow  # the corpus takes a few seconds twice
def test_the_hostile_corpus_parses_as_with_the_full_header_parse(monkeypatch):
    for name, build in CASES.items():
        if name in _BIG:
            continue
        quick, full = both_ways(build(), monkeypatch)
        assert quick == full, name
