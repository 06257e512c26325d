"""``messages.attachments.get`` streamed: Gmail's JSON answer is read as it arrives and its
base64url ``data`` decoded on the way into the attachment store, in any key order; a
corrupt answer fails the download and keeps nothing; Gmail's refusals keep their meaning."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from django.test import Client

from inbox.models import Attachment, ProviderRef
from sync.attachments import fetch_attachment
from sync.errors import ProviderAuthError
from sync.providers.gmail import GmailAdapter, attachment_data, client
from sync.providers.gmail.attachment_data import GmailAttachmentDataError
from sync.providers.gmail.client import GmailNotFound, GmailRateLimited, GmailServerError
from sync.pull import pull_account
from tests.attachment_mail import attachment_urls, big_file, download, kept_files, sha
from tests.fakes.gmail_server import FakeGmail
from tests.fakes.tls import TLSServer, handler_class, suite_ca
from tests.gmail.conftest import GmailSetup

pytestmark = pytest.mark.django_db

MB = 1024 * 1024
NAME = "export.pdf"


@pytest.fixture
def media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "attachments"
    return settings.MEDIA_ROOT


def _pulled_file(setup: GmailSetup, data: bytes) -> Attachment:
    msg = EmailMessage()
    msg["From"] = "Dana Client <dana@client.test>"
    msg["To"] = setup.account.address
    msg["Subject"] = "The full export"
    msg["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    msg["Message-ID"] = make_msgid(domain="client.test")
    msg.set_content("The full export is attached.")
    msg.add_attachment(data, "application", "pdf", filename=NAME)
    setup.mailbox.deliver(msg.as_bytes())
    assert pull_account(setup.account.pk).report.created == 1  # type: ignore[union-attr]
    return Attachment.objects.get(message__account=setup.account, filename=NAME)


def _download(user, attachment: Attachment) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    browser = Client()
    browser.force_login(user)
    status, body, _ = download(browser, attachment_urls(attachment.message_id)[NAME] + "?download=1")
    return status, body


def _reordered(*keys: str, indent: int | None = None) -> Callable[[bytes], bytes]:
    """The fake's answer with its keys in this order (an attachmentId and a nested object
    that also says "data" added, as a decoy the scanner must not take for the file)."""

    def edit(out: bytes) -> bytes:
        answer = json.loads(out)
        answer["attachmentId"] = "ANGjdJ8data_" + "x" * 300
        answer["extra"] = {"data": "QUJD", "list": ["data", {"data": "\\"}]}
        return json.dumps({key: answer[key] for key in keys}, indent=indent).encode()

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        _reordered("data", "size"),
        _reordered("attachmentId", "size", "data"),
        _reordered("extra", "data", "attachmentId", "size", indent=2),
        _reordered("size", "extra", "attachmentId", "data", indent=1),
    ],
    ids=["data-first", "data-last", "decoy-before-data-pretty", "decoy-then-data"],
)
def test_a_gmail_attachment_downloads_byte_exact_whatever_the_answers_key_order(
    gmail: FakeGmail,
    alice_gmail: GmailSetup,
    alice,
    media,
    monkeypatch: pytest.MonkeyPatch,
    edit: Callable[[bytes], bytes],
):
    # Odd sizes, so keys, numbers and 4-character groups are split between reads.
    monkeypatch.setattr(client, "STREAM_CHUNK_BYTES", 997)
    monkeypatch.setattr(attachment_data, "DECODE_CHUNK", 4 * 1001)
    data = big_file(300_001)
    attachment = _pulled_file(alice_gmail, data)
    gmail.attachment_answer_edit = edit

    status, body = _download(alice, attachment)

    assert status == 200, body[:300]
    assert sha(body) == sha(data)
    attachment.refresh_from_db()
    assert attachment.kept_size == len(data)
    assert gmail.count("messages.attachments.get", status=200) == 1


def _corrupt_late(replace: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Change the data 90% of the way in: many pieces are decoded before the fault shows."""

    def edit(out: bytes) -> bytes:
        answer = json.loads(out)
        encoded = answer["data"].encode()
        at = len(encoded) * 9 // 10
        out = json.dumps(answer).encode()
        start = out.index(encoded)
        return out[: start + at] + replace(encoded[at : at + 4]) + out[start + at + 4 :]

    return edit


def _answer(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[bytes], bytes]:
    return lambda out: json.dumps(change(json.loads(out))).encode()


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (_corrupt_late(lambda group: b"QU*D"), "not base64url"),
        (_corrupt_late(lambda group: b"QU+D"), "not base64url"),  # standard base64, not url-safe
        (_corrupt_late(lambda group: b"QQ=="), "not base64url"),  # padding in the middle
        (_corrupt_late(lambda group: b"QU\\/D"), "JSON escape"),
        (_corrupt_late(lambda group: group[:3]), "does not end as base64url"),  # a character lost
        (_answer(lambda a: {**a, "size": a["size"] + 1}), "not the 300002 it announced"),
        (_answer(lambda a: {"size": a["size"]}), "answered without the attachment"),
        (lambda out: out[: len(out) - 5000], "ended before it was complete"),
        (lambda out: out + b'{"size": 1}', "not valid JSON"),
    ],
    ids=[
        "star",
        "plus",
        "inner-padding",
        "escape",
        "lost-char",
        "size",
        "no-data",
        "truncated",
        "two-objects",
    ],
)
def test_a_corrupt_gmail_attachment_answer_fails_the_download_and_keeps_nothing(
    gmail: FakeGmail,
    alice_gmail: GmailSetup,
    alice,
    media,
    monkeypatch: pytest.MonkeyPatch,
    edit: Callable[[bytes], bytes],
    why: str,
):
    monkeypatch.setattr(attachment_data, "DECODE_CHUNK", 4 * 1000)
    data = big_file(300_001)
    attachment = _pulled_file(alice_gmail, data)
    gmail.attachment_answer_edit = edit

    status, body = _download(alice, attachment)

    assert status == 502
    assert b"Gmail did not give the file" in body
    assert why.encode() in body
    attachment.refresh_from_db()
    assert not attachment.file and attachment.kept_size is None
    assert kept_files(media) == []

    gmail.attachment_answer_edit = None  # Gmail answers well again: the same file is kept whole
    status, body = _download(alice, attachment)
    assert status == 200 and sha(body) == sha(data)
    assert len(kept_files(media)) == 1


def test_a_12_mb_gmail_attachment_is_decoded_while_its_answer_is_still_arriving_and_kept_byte_exact(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice, media
):
    data = big_file(12 * MB)
    attachment = _pulled_file(alice_gmail, data)
    gmail.attachment_hold = threading.Event()  # the fake sends half the answer, then waits

    pieces = fetch_attachment(attachment)
    first = next(pieces)

    # The first decoded piece came while the second half of the answer was held back: read
    # whole, as before, it could only come once the fake's hold ran out.
    assert not gmail.attachment_hold_expired
    assert 0 < len(first) <= 2 * MB
    gmail.attachment_hold.set()
    rest = b"".join(pieces)
    assert not gmail.attachment_hold_expired
    assert sha(first + rest) == sha(data)
    del first, rest

    status, body = _download(alice, attachment)
    assert status == 200 and sha(body) == sha(data)
    attachment.refresh_from_db()
    assert attachment.kept_size == 12 * MB
    assert gmail.count("messages.attachments.get", status=200) == 2


@pytest.mark.parametrize(
    ("status", "times", "error"),
    [
        (404, 1, GmailNotFound),
        (429, 1, GmailRateLimited),
        (503, 1, GmailServerError),
        (401, 3, ProviderAuthError),  # still refused after a token refresh
    ],
)
def test_gmail_refusing_a_streamed_attachment_raises_the_adapters_typed_error_and_keeps_nothing(
    gmail: FakeGmail,
    alice_gmail: GmailSetup,
    media,
    status: int,
    times: int,
    error: type[Exception],
):
    attachment = _pulled_file(alice_gmail, big_file(50_000))
    gmail.fail("messages.attachments.get", status, times=times, retry_after=7 if status == 429 else None)

    with pytest.raises(Exception) as raised:
        b"".join(fetch_attachment(attachment))

    assert isinstance(raised.value.__cause__, error), repr(raised.value.__cause__)
    if status == 429:
        assert raised.value.__cause__.retry_after == 7  # type: ignore[attr-defined]
    assert kept_files(media) == []


def test_a_grant_google_ended_while_streaming_an_attachment_means_reconnect(
    gmail: FakeGmail, alice_gmail: GmailSetup, media
):
    attachment = _pulled_file(alice_gmail, big_file(50_000))
    # The access token still works for messages.get; attachments.get answers 401 and the
    # refresh that follows gets invalid_grant (a "Testing" app's 7-day refresh token).
    gmail.refresh_token_max_age = 0
    gmail.fail("messages.attachments.get", 401)

    with pytest.raises(Exception) as raised:
        b"".join(fetch_attachment(attachment))

    assert isinstance(raised.value.__cause__, ProviderAuthError)
    assert "invalid_grant" in str(raised.value.__cause__)
    assert kept_files(media) == []


def test_a_401_on_a_streamed_attachment_refreshes_the_token_once_and_downloads(
    gmail: FakeGmail, alice_gmail: GmailSetup, media
):
    data = big_file(50_000)
    attachment = _pulled_file(alice_gmail, data)
    tokens = gmail.count("token")
    gmail.fail("messages.attachments.get", 401)

    assert sha(b"".join(fetch_attachment(attachment))) == sha(data)
    assert gmail.count("token") == tokens + 1
    assert gmail.count("messages.attachments.get", status=200) == 1


def test_the_data_scanner_refuses_what_is_not_one_attachment_answer():
    for answer in (
        b"",
        b"[]",
        b'["data", "QUJD"]',
        b'{"size": 3, "data": "QUJD"',
        b'{"data": null, "size": 0}',
    ):
        with pytest.raises(GmailAttachmentDataError):
            b"".join(attachment_data.decode_data_field(answer))
    assert b"".join(attachment_data.decode_data_field(b'{"size": 0, "data": ""}')) == b""
    assert (
        b"".join(attachment_data.decode_data_field([b'{"da', b'ta": "QU', b"JD", b'RA=="', b"}"])) == b"ABCD"
    )


def test_a_streamed_gmail_attachment_trusts_the_certificate_authorities_the_gmail_client_trusts(
    gmail: FakeGmail, alice_gmail: GmailSetup, settings
):
    data = big_file(200_000)
    attachment = _pulled_file(alice_gmail, data)
    # The same fake behind HTTPS with a certificate of the suite's CA, which neither the
    # environment's bundle (REQUESTS_CA_BUNDLE) nor certifi knows.
    tls = TLSServer(handler_class(gmail.handle), suite_ca()).start()
    try:
        settings.GMAIL_API_ENDPOINT = tls.url("/")
        settings.GOOGLE_TOKEN_URI = tls.url("/token")
        adapter = GmailAdapter(alice_gmail.account)
        # What HTTPLIB2_CA_CERTS sets for the whole process: the CA file of the client's
        # httplib2 transport. The streamed request must trust exactly that.
        adapter.client._raw_http.ca_certs = str(suite_ca().ca_file)
        ref = ProviderRef.objects.get(message_id=attachment.message_id)

        assert sha(b"".join(adapter.fetch_attachment(ref, attachment))) == sha(data)
    finally:
        tls.stop()
    assert gmail.count("messages.attachments.get", status=200) == 1
