"""A Gmail pull stores what it fetched in groups through the batch path every provider shares
(``sync.store``: one bulk ingest per group, a message that fails alone quarantined alone),
and a pull throttled half-way keeps what it fetched and leaves the rest to the next pull,
no sooner than Gmail's Retry-After."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import Message
from sync.models import QuarantinedMessage
from sync.pull import pull_account
from tests.gmail.helpers import arrive, conversation_of, cursor, pull

pytestmark = pytest.mark.django_db


def _nested(depth: int) -> bytes:
    """Nested deeper than the email package can read: quarantined, never parsed."""
    raw = "From: attacker@client.test\r\nSubject: Deep\r\nMessage-ID: <deep@client.test>\r\n"
    raw += "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    raw += "Content-Type: text/plain\r\n\r\nhello\r\n"
    raw += "".join(f"--b{i}--\r\n" for i in reversed(range(depth)))
    return raw.encode()


def test_a_first_sync_ingests_its_mail_as_one_group_and_quarantines_only_the_unreadable_one(
    gmail, setup, mail, ingests
):
    raw, question_mid = mail.make(subject="Seats for the team", to=setup.account.address)
    question = setup.mailbox.deliver(raw)
    bomb = setup.mailbox.deliver(_nested(3000))
    raw, _ = mail.make(subject="Re: Seats for the team", to=setup.account.address, in_reply_to=question_mid)
    reply = setup.mailbox.deliver(raw)
    other = arrive(setup, mail, subject="Invoice 42")

    report = pull(setup)

    assert report.created == 3 and report.quarantined == 1
    assert ingests == {"bulk": [3], "single": []}  # one bulk ingest, nothing one by one
    assert QuarantinedMessage.objects.get(account=setup.account).provider_key == bomb
    assert conversation_of(setup.account, reply) == conversation_of(setup.account, question)
    assert conversation_of(setup.account, other) != conversation_of(setup.account, question)
    assert cursor(setup) == str(setup.mailbox.history_id)


def test_an_incremental_pull_stores_its_new_mail_through_the_same_groups(gmail, setup, mail, ingests):
    arrive(setup, mail, subject="First")
    pull(setup)
    new = [arrive(setup, mail, subject=f"New {n}") for n in range(3)]

    report = pull(setup)

    assert report.created == 3
    assert ingests["bulk"] == [1, 3] and ingests["single"] == []
    assert all(conversation_of(setup.account, g) is not None for g in new)


def test_a_first_sync_throttled_half_way_keeps_what_arrived_and_the_next_pull_finishes(
    gmail, alice_gmail, mail
):
    ids = [arrive(alice_gmail, mail, subject=f"Lead {n}") for n in range(120)]
    # Sizes first (120 minimal gets), then the raw content: the 61st raw get says "slow down".
    gmail.fail("messages.get", 429, retry_after=900, in_batch=True, after=120 + 60)

    summary = pull_account(alice_gmail.account.pk)

    assert "429" in summary.error
    stored = Message.objects.filter(account=alice_gmail.account).count()
    assert stored == 99  # the first HTTP batch of 50, and 49 of the second: kept, not refetched
    alice_gmail.account.refresh_from_db()
    # Gmail's Retry-After (15 minutes) is honoured, not the 2-minute sync interval.
    assert alice_gmail.account.next_sync_at >= timezone.now() + timedelta(seconds=800)
    assert not cursor_saved(alice_gmail)  # the first sync is not over: it starts again

    raw_gets = len([c for c in gmail.calls_to("messages.get") if c.params["format"][0] == "raw"])
    report = pull(alice_gmail)

    assert report.created == 21 and report.duplicates == 99
    assert Message.objects.filter(account=alice_gmail.account).count() == 120
    assert all(conversation_of(alice_gmail.account, g) is not None for g in ids)
    # Only the 21 missing ones were fetched again.
    assert len([c for c in gmail.calls_to("messages.get") if c.params["format"][0] == "raw"]) == raw_gets + 21
    assert cursor(alice_gmail) == str(alice_gmail.mailbox.history_id)


def cursor_saved(setup) -> bool:  # type: ignore[no-untyped-def]
    from sync.models import FolderState

    return FolderState.objects.filter(account=setup.account, folder="").exclude(cursor="").exists()
