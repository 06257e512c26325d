"""Each user's time zone: taken from the browser at the first sign-in, changed in settings,
used for every date in pages and for the API's local fields. Demo mail is never in the future."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from accounts.models import User
from api.tokens import issue_token
from crm.models import Deal
from inbox.demo_data import seed_demo
from inbox.models import Message
from tests.factories import receive

pytestmark = pytest.mark.django_db

SENT = datetime(2026, 1, 15, 17, 5, tzinfo=UTC)  # 09:05 in Los Angeles, 18:05 in Stockholm


def _login(client, user, **extra):  # type: ignore[no-untyped-def]
    return client.post("/accounts/login/", {"login": user.email, "password": "pw-123456789", **extra})


def test_the_first_sign_in_takes_the_browser_s_zone_and_never_overrides_a_chosen_one(client, alice):
    assert _login(client, alice, time_zone="America/Los_Angeles").status_code == 302
    alice.refresh_from_db()
    assert alice.time_zone == "America/Los_Angeles"
    client.logout()
    _login(client, alice, time_zone="Asia/Tokyo")  # travelling: the chosen zone stays
    alice.refresh_from_db()
    assert alice.time_zone == "America/Los_Angeles"


def test_an_odd_browser_zone_is_ignored_and_the_sign_in_still_works(client, bob):
    assert _login(client, bob, time_zone="Mars/Olympus_Mons").status_code == 302
    bob.refresh_from_db()
    assert bob.time_zone == ""


def test_the_time_zone_is_changed_in_settings_and_a_wrong_one_is_refused(client, alice):
    client.force_login(alice)
    page = client.get("/settings/time-zone/").content.decode()
    assert "Not set (UTC)" in page and '<option value="Europe/Stockholm">' in page
    response = client.post("/settings/time-zone/", {"time_zone": "Europe/Stockholm"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.time_zone == "Europe/Stockholm"
    response = client.post("/settings/time-zone/", {"time_zone": "Nowhere/Special"})
    assert response.status_code == 400 and "is not a time zone" in response.content.decode()
    alice.refresh_from_db()
    assert alice.time_zone == "Europe/Stockholm"
    # The page script's guess never replaces a chosen zone.
    client.post("/settings/time-zone/", {"time_zone": "Asia/Tokyo", "guess": "1"})
    alice.refresh_from_db()
    assert alice.time_zone == "Europe/Stockholm"


def test_pages_show_times_in_each_user_s_zone(client, alice, bob, sales_mailbox):
    convo = receive(sales_mailbox, subject="Zones", when=SENT).conversation_id
    User.objects.filter(pk=alice.pk).update(time_zone="America/Los_Angeles")
    User.objects.filter(pk=bob.pk).update(time_zone="Europe/Stockholm")
    seen = {}
    for user in (alice, bob):
        client.force_login(user)
        seen[user.email] = client.get(f"/inbox/c/{convo}/").content.decode()
    assert "Thu, Jan 15, 2026 · 09:05" in seen["alice@acme.test"]
    assert "Thu, Jan 15, 2026 · 18:05" in seen["bob@acme.test"]


def test_the_api_local_fields_follow_the_token_owner_s_zone(client, alice, alice_mailbox):
    receive(alice_mailbox, subject="Zones", when=SENT)
    message = Message.objects.get()
    User.objects.filter(pk=alice.pk).update(time_zone="Europe/Stockholm")
    token = issue_token(alice)
    data = client.get(
        f"/api/v1/mailbox/mailMessages/{message.pk}", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    assert data["data"]["message_time"] == "2026-01-15 17:05:00"  # UTC, as Pipedrive sends it
    assert data["data"]["message_local_time"] == "2026-01-15 18:05:00"
    assert data["data"]["time_zone"] == "Europe/Stockholm"


def test_demo_mail_is_all_in_the_past_and_no_two_deals_share_a_title():
    seed_demo(conversations=120)
    assert not Message.objects.filter(sent_at__gt=timezone.now()).exists()
    titles = list(Deal.objects.values_list("title", flat=True))
    assert len(titles) == len(set(titles)) == 24


def test_a_reply_s_quote_and_a_forward_say_when_in_the_writer_s_zone(client, alice, bob, sales_mailbox):
    convo = receive(sales_mailbox, subject="Zones", when=SENT).conversation_id
    User.objects.filter(pk=alice.pk).update(time_zone="America/Los_Angeles")
    User.objects.filter(pk=bob.pk).update(time_zone="Europe/Stockholm")
    for user, when in ((alice, "Thu, Jan 15, 2026 at 09:05"), (bob, "Thu, Jan 15, 2026 at 18:05")):
        client.force_login(user)
        for mode in ("reply", "forward"):
            page = client.get(f"/inbox/c/{convo}/reply/?mode={mode}&fresh=1").content.decode()
            assert f"On {when}," in page, (user.email, mode)
