"""List rows (issue 23): each row is a ConversationRow computed once per page and rendered once
per distinct row per process. The row shows exactly what the template filters showed, and a
change to anything in it — for alice or for bob — is never served from a stale rendering."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.utils import timezone

from inbox import services
from inbox.models import Conversation
from tests.factories import DealFactory, receive
from web.rendering import forget_rendered_rows, long_time, truncate_snippet

pytestmark = pytest.mark.django_db


def _filter(template: str, **context: object) -> str:
    return Template(template).render(Context(context))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "short",
        "x" * 160,
        "y" * 161,
        "plain ascii text that is long enough " * 8,
        "Zoë & <Björn> naïve café " * 10,
        ("e\u0301" * 170),  # combining accents do not count as characters
        "a" * 158 + "e\u0301" * 5,
    ],
)
def test_snippet_is_cut_exactly_as_truncatechars_160_cuts_it(text):
    unescaped = "{% autoescape off %}{{ s|truncatechars:160 }}{% endautoescape %}"
    assert truncate_snippet(text) == _filter(unescaped, s=text)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata"])
def test_row_dates_read_as_the_date_filter_shows_them_in_the_user_zone(zone):
    when = datetime(2026, 3, 1, 23, 7, 5, 123456, tzinfo=UTC)
    with timezone.override(zone):
        local = timezone.localtime(when)
        assert long_time(local) == _filter("{{ w|date:'D, M j, Y H:i' }}", w=when)
        assert local.isoformat() == _filter("{{ w|date:'c' }}", w=when)


def test_a_row_read_elsewhere_is_not_shown_unread_from_an_earlier_rendering(as_alice, alice, alice_mailbox):
    conversation_id = receive(alice_mailbox, subject="Renewal terms").conversation_id
    first = as_alice.get("/inbox/").content.decode()
    assert f'<li id="conv-{conversation_id}" class="row unread"' in first
    services.mark_read(alice, [conversation_id], read=True)
    again = as_alice.get("/inbox/").content.decode()
    assert f'<li id="conv-{conversation_id}" class="row"' in again
    assert "Unread: " not in again


def test_a_renamed_deal_shows_its_new_title_though_the_conversation_did_not_change(
    as_alice, alice, alice_mailbox, acme
):
    deal = DealFactory(company=acme, title="Acme pilot")
    conversation_id = receive(alice_mailbox, subject="Pilot").conversation_id
    services.link_deal(alice, conversation_id, deal.pk)
    assert "Deal: Acme pilot" in as_alice.get("/inbox/").content.decode()
    updated_at = Conversation.objects.get(pk=conversation_id).updated_at
    deal.title = "Acme rollout"
    deal.save()
    page = as_alice.get("/inbox/").content.decode()
    assert "Deal: Acme rollout" in page and "Acme pilot" not in page
    assert Conversation.objects.get(pk=conversation_id).updated_at == updated_at


def test_the_same_team_row_keeps_each_users_own_checked_and_folder_state(client, alice, bob, sales_mailbox):
    conversation_id = receive(sales_mailbox, subject="Team thread").conversation_id
    client.force_login(alice)
    row = f'<li id="conv-{conversation_id}"'
    assert row in client.get("/inbox/").content.decode()
    # bob marks it read from the list (htmx): his replaced row comes back ticked; alice's
    # page, rendered from the same kind of row, is not ticked.
    client.force_login(bob)
    form = {"ids": conversation_id, "action": "read", "folder": "inbox"}
    update = client.post("/inbox/actions/", form, HTTP_HX_REQUEST="true").content.decode()
    assert f'value="{conversation_id}" form="bulk"' in update and " checked>" in update
    client.force_login(alice)
    page = client.get("/inbox/").content.decode()
    assert " checked>" not in page
    assert f'{row} class="row"' in page  # read for both: one mailbox, one read state


def test_rows_rendered_again_after_the_cache_is_emptied_are_the_same(as_alice, alice, alice_mailbox, acme):
    for i in range(3):
        receive(alice_mailbox, subject=f"Thread {i}", text="é" * 200)
    warm = as_alice.get("/inbox/").content.decode()
    forget_rendered_rows()
    cold = as_alice.get("/inbox/").content.decode()
    strip = re.compile(r'(csrfmiddlewaretoken" value="|X-CSRFToken": "|nonce=")[^"]+')
    assert strip.sub("", warm) == strip.sub("", cold)
