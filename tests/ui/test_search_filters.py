"""Search looks through all mail with the folder as a filter, and never ends on "Unknown folder."."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from inbox import services
from tests.factories import receive

pytestmark = pytest.mark.django_db


def test_the_top_search_box_searches_all_mail(as_alice):
    html = as_alice.get(reverse("inbox:folder")).content.decode()
    form = re.search(r'<form class="search"[^>]*>', html).group(0)
    assert 'action="/inbox/folder/all/"' in form


def test_all_mail_results_include_archived_and_the_folder_filters_narrow_them(as_alice, alice, alice_mailbox):
    open_one = receive(alice_mailbox, subject="Quarterly pricing").conversation_id
    archived = receive(alice_mailbox, subject="Old pricing").conversation_id
    services.archive_conversations(alice, [archived])

    html = as_alice.get("/inbox/folder/all/?q=pricing").content.decode()
    assert f'id="conv-{open_one}"' in html and f'id="conv-{archived}"' in html
    filters = re.search(r'<nav class="search-filter".*?</nav>', html, re.S).group(0)
    assert re.search(r'href="/inbox/folder/archive/\?q=pricing"[ >]', filters)
    assert re.search(r'href="/inbox/folder/all/\?q=pricing" aria-current="page"', filters)

    inbox_only = as_alice.get("/inbox/?q=pricing").content.decode()
    assert f'id="conv-{open_one}"' in inbox_only and f'id="conv-{archived}"' not in inbox_only
    # On a filtered results page the box keeps the filter.
    form = re.search(r'<form class="search"[^>]*>', inbox_only).group(0)
    assert 'action="/inbox/"' in form


def test_an_emptied_search_on_all_mail_goes_back_to_the_inbox(as_alice, alice_mailbox):
    response = as_alice.get("/inbox/folder/all/?q=")
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    response = as_alice.get(f"/inbox/folder/all/?q=++&account={alice_mailbox.pk}")
    assert response.status_code == 302 and response["Location"] == f"/inbox/?account={alice_mailbox.pk}"
    assert as_alice.get("/inbox/folder/spam/").status_code == 400  # a wrong name still says so


def test_select_all_matching_acts_on_the_whole_list_and_never_on_other_people_s_mail(
    client, alice, carol, alice_mailbox, carol_mailbox
):
    from inbox.models import Conversation

    mine = [receive(alice_mailbox, subject=f"Quote {n}").conversation_id for n in range(3)]
    other = receive(alice_mailbox, subject="Unrelated").conversation_id
    theirs = receive(carol_mailbox, subject="Quote at Globex").conversation_id
    client.force_login(alice)
    data = {"action": "archive", "all_matching": "1", "folder": "inbox", "q": "quote", "origin": "list"}
    assert client.post("/inbox/actions/", data).status_code == 302
    assert set(Conversation.objects.filter(state="archived").values_list("id", flat=True)) == set(mine)
    assert Conversation.objects.get(pk=other).state == "inbox"
    client.force_login(carol)
    client.post("/inbox/actions/", {**data, "q": ""})
    assert Conversation.objects.get(pk=theirs).state == "archived"  # carol's own inbox, hers only
    assert Conversation.objects.get(pk=other).state == "inbox"
