"""Ids passed in the query string or the body (not the path) are as isolated as path ids:
the isolation sweep (tests/test_tenant_isolation.py) covers path ids; this covers the
``account=``, ``ids=`` and ``q=`` parameters of the list, search, counts and preview views."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from api.tokens import issue_token
from tests.factories import parsed, receive

pytestmark = pytest.mark.django_db

MARKER = "ACME-PRIVATE-QS-4410"  # in the subject
WORD = "zephyrquill"  # in the body only: searched for, so the page may echo it


@pytest.fixture
def alices_mail(alice, alice_mailbox):  # type: ignore[no-untyped-def]
    inbox = receive(alice_mailbox, parsed(subject=f"{MARKER} inbox", text=f"the {WORD} offer"))
    return {"account": alice_mailbox.pk, "conversation": inbox.conversation_id}


def _calls(mail: dict[str, int]) -> list[str]:
    account, convo = mail["account"], mail["conversation"]
    return [
        f"{reverse('inbox:folder')}?account={account}",
        f"{reverse('inbox:folder_named', args=['archive'])}?account={account}",
        f"{reverse('inbox:folder_named', args=['all'])}?q={WORD}",
        f"{reverse('inbox:folder')}?account={account}&q={WORD}",
        f"{reverse('inbox:nav_counts')}?account={account}",
        f"{reverse('inbox:delete_preview')}?ids={convo}",
        f"{reverse('inbox:activity')}?account={account}",
        f"{reverse('crm:list', args=['deal'])}?q={WORD}",
    ]


@pytest.mark.parametrize("who", ["carol", "bob"])
def test_query_string_ids_of_alices_private_mail_show_nothing(request, who, alices_mail):
    user = request.getfixturevalue(who)
    client = Client()
    client.force_login(user)
    for url in _calls(alices_mail):
        response = client.get(url)
        assert response.status_code < 500, url
        assert MARKER not in response.content.decode(), f"{url} leaked to {who}"
    token = issue_token(user)
    for url in (
        f"/api/v1/mailbox/mailThreads?folder={folder}&api_token={token}" for folder in ("inbox", "archive")
    ):
        assert MARKER not in client.get(url).content.decode(), url


def test_the_same_calls_as_alice_do_show_her_mail(alice, alices_mail):
    # Guard: the calls above reach the data when the user may see it.
    client = Client()
    client.force_login(alice)
    shown = [url for url in _calls(alices_mail) if MARKER in client.get(url).content.decode()]
    assert len(shown) >= 3
