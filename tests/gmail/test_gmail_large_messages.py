"""Memory stays bounded: sizes first (format=minimal), small messages in HTTP batches within
a byte budget, big ones alone, and above the body cap every provider shares
(sync.store.MAX_FETCH_BYTES) only headers and text — the conversation says so."""

from __future__ import annotations

import pytest

from inbox.models import ProviderRef
from sync import store
from sync.providers.gmail import pull as gmail_pull
from sync.pull import pull_account

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def pull(setup):  # type: ignore[no-untyped-def]
    summary = pull_account(setup.account.pk)
    assert not summary.error, summary.error
    assert summary.report is not None
    return summary.report


def test_big_messages_are_fetched_alone_and_small_ones_in_batches_within_a_byte_budget(
    gmail, alice_gmail, mail, monkeypatch
):
    monkeypatch.setattr(gmail_pull, "SOLO_FETCH_BYTES", 100_000)
    monkeypatch.setattr(gmail_pull, "BATCH_FETCH_BYTES", 150_000)
    mailbox = alice_gmail.mailbox
    big = [mailbox.deliver(mail.make_large(200_000, to=alice_gmail.account.address)[0]) for _ in range(2)]
    medium = [mailbox.deliver(mail.make_large(60_000, to=alice_gmail.account.address)[0]) for _ in range(4)]
    small = [mailbox.deliver(mail.make(to=alice_gmail.account.address, subject=f"S{n}")[0]) for n in range(3)]

    assert pull(alice_gmail).created == 9

    for gmail_id in big:
        (raw_get,) = gmail.gets_of(gmail_id, fmt="raw")
        assert not raw_get.in_batch  # alone
    for gmail_id in medium + small:
        (raw_get,) = gmail.gets_of(gmail_id, fmt="raw")
        assert raw_get.in_batch
    # One batch of sizes, then raw batches within the 150 KB budget (newest first): the 3
    # small ones and 2 of 60 KB (~120 KB), then the other 2 of 60 KB — a third would not fit.
    assert [c.ids for c in gmail.calls_to("batch")] == [9, 5, 2]


@pytest.mark.slow  # seconds of its own: not in `make quick`
def test_a_message_above_the_body_cap_keeps_headers_and_text_and_says_open_in_gmail(
    gmail, alice_gmail, mail, client, alice
):
    assert store.MAX_FETCH_BYTES == 25 * MB  # the one cap IMAP and Outlook use too
    raw, _ = mail.make_large(40 * MB, to=alice_gmail.account.address, body="Signed contract attached.")
    huge_id = alice_gmail.mailbox.deliver(raw)
    del raw

    assert pull(alice_gmail).created == 1

    assert gmail.gets_of(huge_id, fmt="raw") == []  # never asked for whole
    (full,) = gmail.gets_of(huge_id, fmt="full")
    assert not full.in_batch
    message = ProviderRef.objects.get(account=alice_gmail.account, key=huge_id).message
    assert "Signed contract attached." in message.text
    assert "too large to import whole — open in Gmail" in message.parse_problems[0]
    assert "40.0 MB" in message.parse_problems[0] and "25 MB" in message.parse_problems[0]
    (attachment,) = message.attachments
    assert attachment["filename"] == "scans.pdf" and attachment["size"] > 29 * MB

    client.force_login(alice)
    page = client.get(f"/inbox/c/{message.conversation_id}/").content.decode()
    assert "too large to import whole — open in Gmail" in page
