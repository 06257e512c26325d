"""Gmail allows 250 quota units per user per second (15,000 a minute); a first sync runs
several times faster than that. Each Gmail client (one mailbox) charges every call at
Gmail's published cost and, after a first burst, keeps to ``QUOTA_UNITS_PER_SECOND`` by
waiting, instead of running into 429s. Time here is a fake clock: it moves only when the
pacer waits."""

from __future__ import annotations

import pytest

from inbox.models import Message
from sync.models import FolderState
from sync.providers.gmail import GmailAdapter
from sync.providers.gmail import pull as gmail_pull
from sync.providers.gmail.client import QuotaPacer
from tests.gmail.helpers import arrive, conversation_of, cursor, pull

pytestmark = pytest.mark.django_db


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_pacer_lets_a_burst_through_then_waits_for_the_units():
    clock = FakeClock()
    pacer = QuotaPacer(200, 1000, clock=clock, sleep=clock.sleep)

    pacer.spend(1000)  # the burst
    assert clock.slept == []
    pacer.spend(250)  # 250 units over: 1.25 s at 200 a second
    assert clock.slept == [1.25]

    clock.now += 60  # a quiet minute refills the bucket, up to the burst only
    pacer.spend(1000)
    pacer.spend(100)
    assert clock.slept == [1.25, 0.5]
    assert pacer.spent == 2350


def test_no_pacing_when_the_rate_is_zero():
    clock = FakeClock()
    pacer = QuotaPacer(0, 0, clock=clock, sleep=clock.sleep)

    pacer.spend(100_000)

    assert clock.slept == [] and pacer.spent == 100_000


def test_a_first_sync_charges_gmails_costs_and_waits_once_over_the_burst(gmail, alice_gmail, mail):
    for n in range(3):
        arrive(alice_gmail, mail, subject=f"Quote {n}")
    adapter = GmailAdapter(alice_gmail.account)
    clock = FakeClock()
    adapter.client.pacer = QuotaPacer(10, 20, clock=clock, sleep=clock.sleep)

    adapter.pull()

    assert Message.objects.filter(account=alice_gmail.account).count() == 3
    # getProfile 1, messages.list of INBOX and SENT 2 x 5, messages.get minimal and raw 6 x 5
    assert adapter.client.pacer.spent == 41
    # 41 units at 10 a second after a burst of 20: 2.1 s of waiting, spread over the calls
    assert sum(clock.slept) == pytest.approx(2.1)
    assert len(clock.slept) >= 2


def test_a_first_sync_bigger_than_one_pulls_budget_goes_on_in_the_next_pull(
    gmail, alice_gmail, mail, monkeypatch
):
    """A pull fetches at most MAX_FETCH_PER_PULL messages (paced, that keeps it within its
    lock); the cursor stays until everything is in, so the next pull lists again and fetches
    only the rest."""
    monkeypatch.setattr(gmail_pull, "MAX_FETCH_PER_PULL", 3)
    ids = [arrive(alice_gmail, mail, subject=f"Lead {n}") for n in range(5)]

    first = pull(alice_gmail)

    assert first.created == 3 and any("the rest follows next sync" in note for note in first.notes)
    assert not FolderState.objects.filter(account=alice_gmail.account, folder="").exclude(cursor="").exists()

    second = pull(alice_gmail)

    assert second.created == 2 and second.duplicates == 3
    assert all(conversation_of(alice_gmail.account, g) is not None for g in ids)
    assert cursor(alice_gmail) == str(alice_gmail.mailbox.history_id)
    assert len([c for c in gmail.calls_to("messages.get") if c.params["format"][0] == "raw"]) == 5
