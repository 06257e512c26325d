# ruff: noqa: E501  (a corpus: long literal lines read better whole)
"""Hostile and broken messages written for this project, generated (nothing big is vendored).

Each case is raw RFC 5322 bytes as a provider would hand them to ``sync.store``: deep
nesting, thousands of parts, unknown and lying charsets, encoded-word bombs, missing and
duplicated headers, NUL bytes, a 25 MB attachment, header injection and plain garbage.
``CASES`` maps a name to a builder so a caller builds only what it needs (the big ones
take a moment and 25+ MB each).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

FROM = b"From: Mallory <mallory@evil.test>\r\n"
TO = b"To: rep@acme.test\r\n"
DATE = b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
MB = 1024 * 1024


def _headers(name: str, *, extra: bytes = b"", subject: bytes | None = None) -> bytes:
    subject = subject if subject is not None else f"Subject: hostile {name}\r\n".encode()
    return FROM + TO + DATE + subject + f"Message-ID: <{name}@hostile.test>\r\n".encode() + extra


def _simple(
    name: str,
    body: bytes,
    *,
    content_type: bytes = b"text/plain; charset=utf-8",
    extra: bytes = b"",
    subject: bytes | None = None,
    cte: bytes = b"8bit",
) -> bytes:
    return (
        _headers(name, extra=extra, subject=subject)
        + b"MIME-Version: 1.0\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Transfer-Encoding: "
        + cte
        + b"\r\n\r\n"
        + body
    )


def _multipart(name: str, parts: list[bytes], *, boundary: str = "b0", subtype: str = "mixed") -> bytes:
    out = [
        _headers(name),
        f'MIME-Version: 1.0\r\nContent-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode(),
    ]
    for part in parts:
        out.append(f"--{boundary}\r\n".encode() + part + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _text_part(text: str, charset: str = "utf-8") -> bytes:
    return f"Content-Type: text/plain; charset={charset}\r\n\r\n{text}".encode()


def _nested(name: str, depth: int, *, kind: str = "multipart") -> bytes:
    """``depth`` levels of multipart/mixed (or message/rfc822) around one text part."""
    inner = _text_part("the bottom of the well")
    for level in range(depth):
        if kind == "multipart":
            boundary = f"n{level}"
            inner = (
                f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n--{boundary}\r\n'.encode()
                + inner
                + f"\r\n--{boundary}--".encode()
            )
        else:
            inner = b"Content-Type: message/rfc822\r\n\r\n" + FROM + b"Subject: level\r\n" + inner
    return _headers(name) + b"MIME-Version: 1.0\r\n" + inner + b"\r\n"


def _many_parts(name: str, count: int, *, attachments: bool = False) -> bytes:
    parts = []
    for index in range(count):
        if attachments:
            parts.append(
                f'Content-Type: application/octet-stream; name="f{index}.bin"\r\n'
                f'Content-Disposition: attachment; filename="f{index}.bin"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\nAAECAw==".encode()
            )
        else:
            parts.append(_text_part(f"part {index}"))
    return _multipart(name, parts)


def _big_attachment(name: str, size: int) -> bytes:
    chunk = bytes(range(256)) * 4096  # 1 MB of every byte value, cheap to build
    payload = (chunk * (size // len(chunk) + 1))[:size]
    encoded = base64.encodebytes(payload)
    return _multipart(
        name,
        [
            _text_part("see the attached file"),
            b'Content-Type: application/zip; name="big.zip"\r\nContent-Disposition: attachment; '
            b'filename="big.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n' + encoded,
        ],
    )


def _encoded_word_bomb(name: str, words: int) -> bytes:
    word = base64.b64encode("bömb ".encode()).decode()
    subject = "Subject: " + "\r\n ".join(f"=?utf-8?B?{word}?=" for _ in range(words)) + "\r\n"
    return _simple(name, b"body", subject=subject.encode())


def _html(name: str, html: str) -> bytes:
    return _simple(name, html.encode(), content_type=b"text/html; charset=utf-8")


CASES: dict[str, Callable[[], bytes]] = {
    # -- structure --------------------------------------------------------------------
    "nested-50": lambda: _nested("nested-50", 50),
    "nested-300": lambda: _nested("nested-300", 300),
    "nested-2000": lambda: _nested("nested-2000", 2000),
    "nested-rfc822-500": lambda: _nested("nested-rfc822-500", 500, kind="rfc822"),
    "parts-5000": lambda: _many_parts("parts-5000", 5000),
    "attachments-3000": lambda: _many_parts("attachments-3000", 3000, attachments=True),
    "same-boundary-nested": lambda: _multipart(
        "same-boundary-nested",
        [
            b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\n'
            + _text_part("inner")
            + b"\r\n--b0--"
        ],
    ),
    "boundary-never-closed": lambda: (
        _headers("boundary-never-closed")
        + b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\n'
        + _text_part("open")
    ),
    "multipart-without-boundary": lambda: _simple(
        "multipart-without-boundary", b"--x\r\nhi\r\n--x--", content_type=b"multipart/mixed"
    ),
    "empty-boundary": lambda: _simple(
        "empty-boundary", b"--\r\nhi\r\n----", content_type=b'multipart/mixed; boundary=""'
    ),
    "multipart-no-parts": lambda: _simple(
        "multipart-no-parts", b"", content_type=b'multipart/mixed; boundary="z"'
    ),
    "alternative-without-text": lambda: _multipart(
        "alternative-without-text",
        [b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo="],
        subtype="alternative",
    ),
    "empty-rfc822-part": lambda: _multipart("empty-rfc822-part", [b"Content-Type: message/rfc822\r\n\r\n"]),
    "delivery-status": lambda: _multipart(
        "delivery-status",
        [
            _text_part("bounced"),
            b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; \x00\xff\r\n",
        ],
        subtype="report",
    ),
    "content-type-garbage": lambda: _simple("content-type-garbage", b"hi", content_type=b'text/; ;;; ="\x01'),
    # -- charsets ---------------------------------------------------------------------
    "unknown-charset": lambda: _simple(
        "unknown-charset", b"caf\xe9", content_type=b"text/plain; charset=x-klingon"
    ),
    "lying-utf8-is-latin1": lambda: _simple("lying-utf8-is-latin1", "Ærlig talt, café".encode("latin-1")),
    "lying-ascii-is-utf8": lambda: _simple(
        "lying-ascii-is-utf8", "naïve résumé".encode(), content_type=b"text/plain; charset=us-ascii"
    ),
    "utf16-odd-bytes": lambda: _simple(
        "utf16-odd-bytes", b"\xff\xfeh\x00i\x00\x00", content_type=b"text/plain; charset=utf-16"
    ),
    "utf7-html": lambda: _simple(
        "utf7-html", b"+ADw-script+AD4-alert(1)+ADw-/script+AD4-", content_type=b"text/html; charset=utf-7"
    ),
    "charset-injection": lambda: _simple(
        "charset-injection", b"hi", content_type=b'text/plain; charset="utf-8\\"; x=\x00"'
    ),
    "invalid-utf8-sequences": lambda: _simple(
        "invalid-utf8-sequences", b"a\xc3\x28b\xed\xa0\x80c\xf8\x88\x80\x80\x80"
    ),
    "raw-8bit-subject": lambda: _simple(
        "raw-8bit-subject", b"body", subject="Subject: Offert på café\r\n".encode("latin-1")
    ),
    "filename-unknown-charset": lambda: _multipart(
        "filename-unknown-charset",
        [
            b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=x-foo''%E9t%E9.pdf\r\n\r\nx"
        ],
    ),
    "filename-continuation-bomb": lambda: _multipart(
        "filename-continuation-bomb",
        [
            b"Content-Type: application/pdf\r\nContent-Disposition: attachment;"
            + b"".join(f"\r\n filename*{i}*=utf-8''a%C3%A9".encode() for i in range(5000))
            + b"\r\n\r\nx"
        ],
    ),
    # -- encoded words and header sizes ----------------------------------------------
    "encoded-word-bomb-10000": lambda: _encoded_word_bomb("encoded-word-bomb-10000", 10_000),
    "encoded-word-unknown-charset": lambda: _simple(
        "encoded-word-unknown-charset", b"x", subject=b"Subject: =?x-foo?Q?abc?= =?utf-8?B?###?=\r\n"
    ),
    "encoded-word-broken-base64": lambda: _simple(
        "encoded-word-broken-base64", b"x", subject=b"Subject: =?utf-8?B?w6k?=\r\n"
    ),
    "encoded-word-in-address-with-nul": lambda: _simple(
        "encoded-word-in-address-with-nul", b"x", extra=b"Cc: =?utf-8?B?AAAA?= <a\x00b@evil.test>\r\n"
    ),
    "subject-1mb": lambda: _simple("subject-1mb", b"x", subject=b"Subject: " + b"A" * MB + b"\r\n"),
    "folded-subject-50000-lines": lambda: _simple(
        "folded-subject-50000-lines", b"x", subject=b"Subject: a" + b"\r\n b" * 50_000 + b"\r\n"
    ),
    "headers-20000": lambda: _simple(
        "headers-20000", b"x", extra=b"".join(f"X-H{i}: v\r\n".encode() for i in range(20_000))
    ),
    "message-id-100k": lambda: _simple(
        "message-id-100k", b"x", extra=b"In-Reply-To: <" + b"i" * 100_000 + b"@x>\r\n"
    ),
    "references-20000": lambda: _simple(
        "references-20000",
        b"x",
        extra=b"References: " + b" ".join(f"<r{i}@x>".encode() for i in range(20_000)) + b"\r\n",
    ),
    "to-5000-addresses": lambda: _simple(
        "to-5000-addresses",
        b"x",
        extra=b"Cc: " + b", ".join(f"u{i}@x.test".encode() for i in range(5000)) + b"\r\n",
    ),
    "malformed-addresses": lambda: _simple(
        "malformed-addresses", b"x", extra=b'Cc: <<<@@@>>>, "unclosed <a@b, @,,; :;\r\n'
    ),
    # -- missing, duplicated and odd headers -----------------------------------------
    "no-headers-at-all": lambda: b"just a body, no header block\r\n",
    "empty": lambda: b"",
    "only-blank-lines": lambda: b"\r\n\r\n\r\n",
    "missing-everything-but-subject": lambda: b"Subject: lonely\r\n\r\nbody",
    "empty-from-and-message-id": lambda: b"From:\r\nMessage-ID:\r\nDate:\r\nTo:\r\nSubject:\r\n\r\nbody",
    "duplicated-headers": lambda: (
        b"From: a@evil.test\r\nFrom: b@evil.test\r\nMessage-ID: <dup1@hostile.test>\r\nMessage-ID: <dup2@hostile.test>\r\n"
        b"Subject: one\r\nSubject: two\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\nDate: yesterday\r\n"
        b"Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\nbody"
    ),
    "header-lines-without-colon": lambda: (
        b"From: a@evil.test\r\nthis is not a header\r\nSubject: x\r\n\r\nbody"
    ),
    "control-chars-in-headers": lambda: _simple(
        "control-chars-in-headers", b"x", subject=b"Subject: a\x01b\x1bc\x7fd\x0be\r\n"
    ),
    "bad-dates": lambda: (
        _headers("bad-dates").replace(DATE, b"Date: Fri, 31 Feb 99999 25:61:61 +9999\r\n") + b"\r\nx"
    ),
    "date-before-epoch": lambda: (
        _headers("date-before-epoch").replace(DATE, b"Date: Mon, 1 Jan 1900 00:00:00 +0000\r\n") + b"\r\nx"
    ),
    # -- NUL bytes --------------------------------------------------------------------
    "nul-in-body": lambda: _simple("nul-in-body", b"before\x00after\x00" * 1000),
    "nul-in-headers": lambda: _simple(
        "nul-in-headers", b"x", subject=b"Subject: a\x00b\r\n", extra=b"X-Evil: \x00\x00\r\n"
    ),
    "nul-in-html": lambda: _html("nul-in-html", "<p>a\x00b</p><scr\x00ipt>x</script>"),
    "nul-in-filename": lambda: _multipart(
        "nul-in-filename",
        [b'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="a\x00.txt"\r\n\r\nx'],
    ),
    # -- transfer encodings -------------------------------------------------------------
    "broken-base64": lambda: _simple("broken-base64", b"!!!not base64 at all***\r\n====", cte=b"base64"),
    "broken-quoted-printable": lambda: _simple(
        "broken-quoted-printable", b"=ZZ=\r\n=" + b"=\r\n" * 10_000, cte=b"quoted-printable"
    ),
    "unknown-transfer-encoding": lambda: _simple("unknown-transfer-encoding", b"x", cte=b"x-rot13"),
    "uuencoded": lambda: _simple("uuencoded", b"begin 644 a.txt\r\n#86)C\r\n`\r\nend\r\n", cte=b"x-uuencode"),
    "lone-cr-line-endings": lambda: (
        _headers("lone-cr-line-endings").replace(b"\r\n", b"\r") + b"\r\rbody\rline"
    ),
    "lf-only-line-endings": lambda: _headers("lf-only-line-endings").replace(b"\r\n", b"\n") + b"\nbody\n",
    # -- size -------------------------------------------------------------------------------
    "attachment-25mb": lambda: _big_attachment("attachment-25mb", 25 * MB),
    "text-body-12mb": lambda: _simple("text-body-12mb", b"lorem ipsum dolor sit amet\r\n" * (12 * MB // 28)),
    "single-line-8mb": lambda: _simple("single-line-8mb", b"x" * 8 * MB),
    "html-nested-divs": lambda: _html("html-nested-divs", "<div>" * 100_000 + "deep" + "</div>" * 100_000),
    # -- injection ------------------------------------------------------------------------
    "header-injection-encoded-crlf": lambda: _simple(
        "header-injection-encoded-crlf",
        b"x",
        subject=b"Subject: =?utf-8?Q?hi=0D=0ABcc:_victim@acme.test?=\r\n",
    ),
    "header-injection-in-display-name": lambda: _simple(
        "header-injection-in-display-name",
        b"x",
        extra=b"Reply-To: =?utf-8?Q?Eve=0D=0ABcc:_x@y?= <eve@evil.test>\r\n",
    ),
    "header-injection-in-message-id": lambda: (
        b"From: a@evil.test\r\nMessage-ID: <a@b>\r\n\tBcc: x@y\r\nSubject: x\r\n\r\nbody"
    ),
    "rtl-override-in-name": lambda: _simple(
        "rtl-override-in-name", b"x", extra="Cc: \u202eeviL <cfo@acme.test>\r\n".encode()
    ),
    "self-referencing-thread": lambda: _simple(
        "self-referencing-thread",
        b"x",
        extra=b"In-Reply-To: <self-referencing-thread@hostile.test>\r\nReferences: <self-referencing-thread@hostile.test>\r\n",
    ),
    "script-in-html": lambda: _html(
        "script-in-html", "<script>alert(1)</script><img src=x onerror=alert(2)>hi"
    ),
    "tnef-attachment": lambda: _multipart(
        "tnef-attachment",
        [
            b'Content-Type: application/ms-tnef; name="winmail.dat"\r\nContent-Transfer-Encoding: base64\r\n\r\neJ8+IgAA'
        ],
    ),
}
