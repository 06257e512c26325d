"""An Outlook pull stores what it downloaded in groups through the batch path every provider
shares (``sync.store``: one bulk ingest per group, a message that fails alone quarantined
alone), and a pull throttled half-way keeps what it downloaded and leaves the rest to the
next pull, no sooner than Graph's Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from inbox.models import Message, ProviderRef
from sync.models import QuarantinedMessage
from sync.providers.outlook import pull as outlook_pull
from sync.pull import pull_account
from tests.outlook.conftest import deliver, outlook_personal, pull

pytestmark = pytest.mark.django_db


def _too_complex() -> bytes:
    """Declares more multipart boundaries than any real mail (a nesting bomb's signature):
    quarantined unparsed. Flat, so the fake Graph can still read its headers."""
    lines = "".join(f'--x boundary="b{i}"\r\n' for i in range(600))
    return (
        "From: attacker@client.test\r\nSubject: Boundaries\r\nMessage-ID: <bomb@client.test>\r\n"
        f"Content-Type: text/plain\r\n\r\n{lines}"
    ).encode()


def _conversation(graph_id: str) -> int:
    return ProviderRef.objects.get(key=graph_id).message.conversation_id


def test_a_first_sync_ingests_its_mail_in_groups_and_quarantines_only_the_unreadable_one(
    ms, alice, ingests, monkeypatch
):
    monkeypatch.setattr(outlook_pull, "STORE_GROUP", 3)
    account, mailbox = outlook_personal(ms, alice)
    question = deliver(mailbox, subject="Seats for the team", message_id="<seats@client.test>", days_ago=0.5)
    bomb = mailbox.deliver(_too_complex(), received=datetime.now(UTC) - timedelta(hours=4))
    reply = deliver(
        mailbox, subject="Re: Seats for the team", in_reply_to="<seats@client.test>", days_ago=0.1
    )
    others = [deliver(mailbox, subject=f"Invoice {n}", days_ago=0.05) for n in range(3)]

    report = pull(account)

    assert report.created == 5 and report.quarantined == 1
    assert sum(ingests["bulk"]) == 5 and max(ingests["bulk"]) == 3  # groups of at most 3
    assert ingests["single"] == []
    row = QuarantinedMessage.objects.get(account=account)
    assert row.provider_key == bomb and row.reason.startswith("could not be parsed: MessageTooComplex")
    assert _conversation(reply) == _conversation(question)
    assert len({_conversation(g) for g in others}) == 3
    account.refresh_from_db()
    assert account.initial_sync_finished_at is not None and account.initial_sync_done == 6


def test_a_first_sync_throttled_half_way_keeps_what_arrived_and_the_next_pull_finishes(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    ids = [deliver(mailbox, subject=f"Lead {n}", days_ago=1 + n / 100) for n in range(30)]
    # The 13th download: "slow down, come back in 15 minutes".
    ms.fail("value", status=429, retry_after="900", after=12)

    summary = pull_account(account.pk)

    assert summary.error
    assert Message.objects.filter(account=account).count() == 12  # downloaded: kept
    account.refresh_from_db()
    # Graph's Retry-After is honoured, not the 2-minute sync interval.
    assert account.next_sync_at >= timezone.now() + timedelta(seconds=800)
    assert account.initial_sync_finished_at is None
    downloads = ms.count("value")

    report = pull(account)

    assert report.created == 18
    assert Message.objects.filter(account=account).count() == 30
    assert all(ProviderRef.objects.filter(key=g).exists() for g in ids)
    assert ms.count("value") == downloads + 18  # only the missing ones downloaded again
    account.refresh_from_db()
    assert account.initial_sync_finished_at is not None
