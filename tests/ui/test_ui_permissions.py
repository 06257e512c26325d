"""Every inbox and CRM page as alice (admin), bob (teammate) and carol (another company).

Carol gets 404 for all of Acme's objects; bob gets 404 for alice's personal mail and sees
the team mailbox's. A 404 changes nothing.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from inbox.models import AuditEvent, Conversation, Message
from tests.factories import DealFactory, receive
from tests.ui.conftest import HTMX

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_mail(alice, alice_mailbox, sales_mailbox, acme):  # type: ignore[no-untyped-def]
    personal = receive(alice_mailbox, subject="Alice private")
    team = receive(sales_mailbox, subject="Team thread")
    deal = DealFactory(company=acme, title="Acme deal")
    return {"personal": personal, "team": team, "deal": deal, "mailbox": alice_mailbox}


def _requests(mail):  # type: ignore[no-untyped-def]
    convo = mail["personal"].conversation_id
    message = mail["personal"].message_id
    deal = mail["deal"].pk
    return [
        ("get", reverse("inbox:conversation", args=[convo]), {}),
        ("get", reverse("inbox:picker", args=[convo]), {"q": "a"}),
        ("get", reverse("inbox:delete_preview"), {"ids": convo}),
        ("get", reverse("inbox:message_body", args=[message]), {"images": "1"}),
        ("get", reverse("inbox:delete_message", args=[message]), {}),
        ("get", reverse("inbox:folder"), {"account": mail["mailbox"].pk}),
        ("post", reverse("inbox:bulk_action"), {"action": "archive", "ids": convo}),
        ("post", reverse("inbox:bulk_action"), {"action": "delete", "ids": convo, "confirmed": "1"}),
        ("post", reverse("inbox:bulk_action"), {"action": "read", "ids": convo}),
        ("post", reverse("inbox:link", args=[convo]), {"target": "deal", "object_id": deal}),
        ("post", reverse("inbox:delete_message", args=[message]), {}),
    ]


def _crm_requests(mail):  # type: ignore[no-untyped-def]
    deal = mail["deal"].pk
    return [
        ("get", reverse("crm:deal", args=[deal]), {}),
        ("get", reverse("inbox:history", args=["deal", deal]), {}),
    ]


def _assert_unchanged(mail):  # type: ignore[no-untyped-def]
    convo = Conversation.objects.get(pk=mail["personal"].conversation_id)
    assert convo.state == "inbox" and not convo.is_read and convo.deal_id is None
    assert Message.objects.filter(pk=mail["personal"].message_id).exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_carol_gets_404_everywhere_and_changes_nothing(client, carol, acme_mail, htmx):
    client.force_login(carol)
    headers = HTMX if htmx else {}
    for method, url, data in _requests(acme_mail) + _crm_requests(acme_mail):
        response = getattr(client, method)(url, data, **headers)
        assert response.status_code == 404, (method, url, response.status_code)
    _assert_unchanged(acme_mail)
    # Her own inbox shows none of Acme's mail.
    page = client.get(reverse("inbox:folder")).content.decode()
    assert "Alice private" not in page and "Team thread" not in page


def test_bob_gets_404_for_alice_s_personal_mail_but_sees_the_team_mailbox(client, bob, acme_mail):
    client.force_login(bob)
    for method, url, data in _requests(acme_mail):
        assert getattr(client, method)(url, data).status_code == 404, (method, url)
    _assert_unchanged(acme_mail)
    team = acme_mail["team"].conversation_id
    assert client.get(reverse("inbox:conversation", args=[team])).status_code == 200
    assert client.get(reverse("crm:deal", args=[acme_mail["deal"].pk])).status_code == 200
    page = client.get(reverse("inbox:folder")).content.decode()
    assert "Team thread" in page and "Alice private" not in page


def test_alice_sees_her_own_pages(client, alice, acme_mail):
    client.force_login(alice)
    for method, url, data in _requests(acme_mail)[:6] + _crm_requests(acme_mail):
        assert getattr(client, method)(url, data, **HTMX).status_code == 200, (method, url)


def test_signed_out_visitors_are_sent_to_sign_in(client, acme_mail):
    for method, url, data in _requests(acme_mail) + _crm_requests(acme_mail):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302 and reverse("account_login") in response["Location"], url
    _assert_unchanged(acme_mail)


def test_state_changing_views_refuse_get(client, alice, acme_mail):
    client.force_login(alice)
    convo = acme_mail["personal"].conversation_id
    for url in (reverse("inbox:bulk_action"), reverse("inbox:link", args=[convo])):
        assert client.get(url, {"action": "delete", "ids": convo}).status_code == 405
    _assert_unchanged(acme_mail)


def test_the_404_page_explains_without_leaking(client, carol, acme_mail):
    client.force_login(carol)
    response = client.get(reverse("inbox:conversation", args=[acme_mail["personal"].conversation_id]))
    html = response.content.decode()
    assert response.status_code == 404 and "Nothing here" in html and "Alice private" not in html
