"""The inbox pages through Django's test client: what each answers, with and without htmx."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from inbox import services
from inbox.models import AuditEvent, Conversation, ConversationState, Message
from tests.factories import DealFactory, LeadFactory, ProjectFactory, parsed, receive, switches
from tests.ui.conftest import HTMX

pytestmark = pytest.mark.django_db

BULK = reverse("inbox:bulk_action")


def _html(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return response.content.decode()


def test_inbox_rows_show_people_subject_snippet_deal_and_unread_state(as_alice, alice, alice_mailbox, acme):
    deal = DealFactory(company=acme, title="Northwind licence")
    convo = receive(
        alice_mailbox, subject="Pricing", sender="anna@northwind.test", text="Can we get volume tiers?"
    ).conversation_id
    services.link_deal(alice, convo, deal.pk)
    html = _html(as_alice.get(reverse("inbox:folder")))
    row = re.search(rf'<li id="conv-{convo}" class="row unread".*?</li>', html, re.S)
    assert row, "the unread row is marked unread"
    text = row.group(0)
    assert "Anna" in text and "Pricing" in text and "Can we get volume tiers?" in text
    assert "Northwind licence" in text and deal.get_absolute_url() in text
    assert f'value="{convo}"' in text  # its checkbox


def test_folder_counts_and_mailbox_switch(as_alice, alice, alice_mailbox, sales_mailbox):
    mine = receive(alice_mailbox, subject="Mine").conversation_id
    team = receive(sales_mailbox, subject="Team thread").conversation_id
    services.archive_conversations(alice, [team])
    html = _html(as_alice.get(reverse("inbox:folder")))
    assert re.search(r'id="count-inbox">.*?1<span class="visually-hidden"> unread', html)
    assert re.search(r'id="count-archive">.*?1<span', html)
    assert f"?account={sales_mailbox.pk}" in html and "All mailboxes" in html

    archive = reverse("inbox:folder_named", args=["archive"])
    only_team = _html(as_alice.get(archive, {"account": sales_mailbox.pk}))
    assert f'id="conv-{team}"' in only_team and f'id="conv-{mine}"' not in only_team


def test_htmx_archive_removes_rows_updates_counts_and_offers_undo(as_alice, alice, alice_mailbox):
    a = receive(alice_mailbox, subject="A").conversation_id
    b = receive(alice_mailbox, subject="B").conversation_id
    html = _html(as_alice.post(BULK, {"action": "archive", "ids": [a, b], "folder": "inbox"}, **HTMX))
    for convo in (a, b):
        assert f'<li id="conv-{convo}" hx-swap-oob="delete">' in html
    assert 'id="count-archive" hx-swap-oob="true"' in html
    assert "Archived 2 conversations." in html
    undo = re.search(r'<form[^>]*class="toast-form".*?</form>', html, re.S).group(0)
    assert 'name="action" value="unarchive"' in undo and f'value="{a}"' in undo and f'value="{b}"' in undo
    assert set(Conversation.objects.values_list("state", flat=True)) == {ConversationState.ARCHIVED}


def test_undo_rerenders_the_list_with_the_rows_back(as_alice, alice, alice_mailbox):
    a = receive(alice_mailbox, subject="Back again").conversation_id
    services.archive_conversations(alice, [a])
    html = _html(
        as_alice.post(BULK, {"action": "unarchive", "ids": [a], "undo": "1", "folder": "inbox"}, **HTMX)
    )
    assert '<div id="list-region" hx-swap-oob="innerHTML">' in html and f'id="conv-{a}"' in html
    assert "(undone)" in html and "Undo</button>" not in html
    assert Conversation.objects.get(pk=a).state == ConversationState.INBOX


def test_archive_in_sent_folder_keeps_the_row_and_marks_it_archived(as_alice, alice, alice_mailbox):
    convo = receive(alice_mailbox, parsed(subject="Offer", sender=alice_mailbox.address, incoming=False))
    html = _html(
        as_alice.post(BULK, {"action": "archive", "ids": [convo.conversation_id], "folder": "sent"}, **HTMX)
    )
    assert f'<li id="conv-{convo.conversation_id}" class="row' in html and 'hx-swap-oob="true"' in html
    assert "Archived</span>" in html


def test_mark_read_replaces_rows_and_keeps_them_selected(as_alice, alice, alice_mailbox):
    convo = receive(alice_mailbox, subject="Unread one").conversation_id
    html = _html(as_alice.post(BULK, {"action": "read", "ids": [convo], "folder": "inbox"}, **HTMX))
    row = re.search(rf'<li id="conv-{convo}" class="row"[^>]*hx-swap-oob="true">.*?</li>', html, re.S)
    assert row and " checked" in row.group(0)
    assert Conversation.objects.get(pk=convo).is_read


def test_without_javascript_actions_redirect_back_with_a_toast(client, alice, alice_mailbox):
    client.force_login(alice)
    convo = receive(alice_mailbox, subject="Plain form").conversation_id
    response = client.post(BULK, {"action": "archive", "ids": [convo], "next": "/inbox/?account=1"})
    assert response.status_code == 302 and response["Location"] == "/inbox/?account=1"
    response = client.post(BULK, {"action": "unarchive", "ids": [convo], "next": "https://evil.test/"})
    assert response["Location"] == "/inbox/"  # never off-site
    html = _html(client.get("/inbox/"))
    assert "Moved 1 conversation to the Inbox." in html


@pytest.mark.parametrize(
    "data, message",
    [
        ({"action": "archive", "ids": ["x"]}, b"Conversation ids must be numbers."),
        ({"action": "explode", "ids": ["1"]}, b"Unknown action."),
        ({"action": "archive"}, b"Select at least one conversation."),
        ({"action": "archive", "ids": ["1"], "folder": "spam"}, b"Unknown folder."),
    ],
)
def test_bad_input_gets_a_clear_error_and_changes_nothing(as_alice, alice, alice_mailbox, data, message):
    convo = receive(alice_mailbox, subject="Untouched").conversation_id
    if data.get("ids") == ["1"]:
        data = {**data, "ids": [str(convo)]}
    response = as_alice.post(BULK, data, **HTMX)
    assert response.status_code == 400 and message in response.content
    assert Conversation.objects.get(pk=convo).state == ConversationState.INBOX
    assert not AuditEvent.objects.exists()


def test_delete_preview_states_the_consequences(as_alice, alice, alice_mailbox, acme):
    switches(alice, delete=True)
    deal, lead = DealFactory(company=acme, title="D1"), LeadFactory(company=acme, title="L1")
    project = ProjectFactory(company=acme, title="P1")
    a = receive(alice_mailbox, subject="A").conversation_id
    b = receive(alice_mailbox, subject="B").conversation_id
    services.link_deal(alice, a, deal.pk)
    services.link_lead(alice, b, lead.pk)
    services.link_project(alice, b, project.pk)
    html = _html(as_alice.get(reverse("inbox:delete_preview"), {"ids": [a, b]}, **HTMX))
    assert "<dialog" in html and ">Delete</button>" in html
    assert (
        "Delete 2 conversations (2 messages) for good and remove the links to deal D1; lead L1; project P1 "
        "and move 2 messages to Trash in IMAP. This cannot be undone."
    ) in html
    assert Conversation.objects.count() == 2  # a preview changes nothing

    page = _html(as_alice.get(reverse("inbox:delete_preview"), {"ids": [a]}))  # no JavaScript: a page
    assert "<!doctype html>" in page and 'name="action" value="delete"' in page


def test_opening_a_conversation_reads_it_and_offers_archive_and_delete(as_alice, alice, alice_mailbox):
    convo = receive(alice_mailbox, subject="Demo follow-up", text="See you Friday").conversation_id
    html = _html(as_alice.get(reverse("inbox:conversation", args=[convo])))
    assert "Demo follow-up" in html and "See you Friday" in html
    assert 'name="action" value="archive"' in html and ">Delete</span>" in html
    assert Conversation.objects.get(pk=convo).is_read


def test_archived_conversation_offers_unarchive(as_alice, alice, alice_mailbox):
    convo = receive(alice_mailbox, subject="Old").conversation_id
    services.archive_conversations(alice, [convo])
    html = _html(as_alice.get(reverse("inbox:conversation", args=[convo])))
    assert 'name="action" value="unarchive"' in html and 'name="action" value="archive"' not in html


def test_shared_conversation_is_read_only_for_a_teammate(client, alice, bob, alice_mailbox):
    convo = receive(alice_mailbox, subject="Shared pricing").conversation_id
    services.set_shared(alice, convo, True)
    client.force_login(bob)
    html = _html(client.get(reverse("inbox:conversation", args=[convo])))
    assert "read only" in html and 'name="action" value="archive"' not in html and "picker-input" not in html
    assert not Conversation.objects.get(pk=convo).is_read  # bob reading does not change alice's mail
    response = client.post(BULK, {"action": "archive", "ids": [convo]})
    assert response.status_code == 404


def test_html_bodies_go_into_a_sandboxed_srcdoc_without_script(as_alice, alice, alice_mailbox):
    message = parsed(subject="Newsletter", to=(alice_mailbox.address,))
    message.html = '<p>Hi</p><script>alert(1)</script><img src="https://t.test/p.png">'
    convo = receive(alice_mailbox, message).conversation_id
    html = _html(as_alice.get(reverse("inbox:conversation", args=[convo])))
    frame = re.search(r"<iframe[^>]*>", html, re.S).group(0)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame
    assert "allow-scripts" not in frame and "allow-same-origin" not in frame
    assert "alert(1)" not in frame and "t.test" not in frame
    assert "1 remote image hidden" in html

    message_id = Message.objects.get(conversation_id=convo).pk
    body = _html(as_alice.get(reverse("inbox:message_body", args=[message_id]), {"images": "1"}, **HTMX))
    assert "https://t.test/p.png" in body and "alert(1)" not in body


def test_picker_finds_only_this_company_s_records(as_alice, alice, alice_mailbox, acme, carol):
    DealFactory(company=acme, title="Globex expansion")
    DealFactory(company=carol.company, title="Globex secret")
    LeadFactory(company=acme, title="Globex inbound")
    convo = receive(alice_mailbox, subject="Hi").conversation_id
    html = _html(as_alice.get(reverse("inbox:picker", args=[convo]), {"q": "globex"}, **HTMX))
    assert "Link deal Globex expansion" in html and "Link lead Globex inbound" in html
    assert "Globex secret" not in html


def test_picker_suggests_open_deals_of_the_people_on_the_conversation(as_alice, alice, alice_mailbox, acme):
    from tests.factories import add_person

    person = add_person(acme, "Tara Lind", "tara@umbrella.test")
    DealFactory(company=acme, title="Umbrella renewal", person=person)
    DealFactory(company=acme, title="Unrelated deal")
    convo = receive(alice_mailbox, subject="Renewal", sender="tara@umbrella.test").conversation_id
    html = _html(as_alice.get(reverse("inbox:picker", args=[convo]), **HTMX))
    assert "Suggested for the people on this conversation" in html
    assert "Umbrella renewal" in html and "Unrelated deal" not in html


def test_link_and_unlink_answer_with_the_side_panel(as_alice, alice, alice_mailbox, acme):
    deal = DealFactory(company=acme, title="Wayne foods")
    project = ProjectFactory(company=acme, title="Nordics launch")
    convo = receive(alice_mailbox, subject="Hi").conversation_id
    url = reverse("inbox:link", args=[convo])
    html = _html(as_alice.post(url, {"target": "deal", "object_id": deal.pk}, **HTMX))
    assert "Unlink deal Wayne foods" in html and "Linked to the deal." in html
    html = _html(as_alice.post(url, {"target": "project", "object_id": project.pk}, **HTMX))
    assert "Unlink project Nordics launch" in html
    _html(as_alice.post(url, {"target": "unlink_project", "object_id": project.pk}, **HTMX))
    html = _html(as_alice.post(url, {"target": "unlink"}, **HTMX))
    assert "Not linked to a deal, lead or project yet." in html
    conversation = Conversation.objects.get(pk=convo)
    assert conversation.deal_id is None and not conversation.projects.exists()


def test_history_lists_archived_emails_with_a_delete_menu(as_alice, alice, alice_mailbox, acme):
    deal = DealFactory(company=acme, title="Deal")
    live = receive(alice_mailbox, subject="Live")
    archived = receive(alice_mailbox, subject="Archived one")
    for result in (live, archived):
        services.link_deal(alice, result.conversation_id, deal.pk)
    services.archive_conversations(alice, [archived.conversation_id])
    html = _html(as_alice.get(reverse("inbox:history", args=["deal", deal.pk]), **HTMX))
    assert "Live" in html and "Archived one" in html and "Archived</span>" in html
    assert html.count("Delete this email") == 2


def test_delete_this_email_answers_with_the_history_without_it(as_alice, alice, alice_mailbox, acme):
    deal = DealFactory(company=acme, title="Deal")
    gone = receive(alice_mailbox, subject="Gone")
    kept = receive(alice_mailbox, subject="Kept")
    for result in (gone, kept):
        services.link_deal(alice, result.conversation_id, deal.pk)
    url = reverse("inbox:delete_message", args=[gone.message_id])
    preview = _html(as_alice.get(url, {"kind": "deal", "object_id": deal.pk}, **HTMX))
    assert "Delete this email?" in preview and "History of deal Deal" in preview
    assert Message.objects.filter(pk=gone.message_id).exists()
    html = _html(as_alice.post(url, {"kind": "deal", "object_id": deal.pk}, **HTMX))
    assert f'id="history-deal-{deal.pk}"' in html and "Kept" in html and ">Gone<" not in html
    assert "Email deleted." in html
    assert not Message.objects.filter(pk=gone.message_id).exists()


def test_load_more_returns_the_next_rows(as_alice, alice, alice_mailbox):
    ids = [receive(alice_mailbox, subject=f"T{i}").conversation_id for i in range(53)]
    html = _html(as_alice.get(reverse("inbox:folder")))
    cursor = re.search(r'hx-get="/inbox/\?cursor=([^"]+)"', html).group(1)
    more = _html(as_alice.get(reverse("inbox:folder"), {"cursor": cursor}, **HTMX))
    shown = {int(i) for i in re.findall(r'<li id="conv-(\d+)"', html + more)}
    assert shown == set(ids) and "<!doctype" not in more and 'id="more"' not in more


def test_crm_detail_and_list_pages(as_alice, alice, acme):
    deal = DealFactory(company=acme, title="Acme robots", value=12000)
    html = _html(as_alice.get(deal.get_absolute_url()))
    assert "Acme robots" in html and "12,000 EUR" in html
    assert reverse("inbox:history", args=["deal", deal.pk]) in html
    listing = _html(as_alice.get(reverse("crm:list", args=["deal"]), {"q": "robots"}))
    assert "Acme robots" in listing


def test_nav_counts_for_pages_outside_the_inbox(as_alice, alice, alice_mailbox):
    receive(alice_mailbox, subject="x")
    html = _html(as_alice.get(reverse("inbox:nav_counts"), **HTMX))
    assert 'id="count-inbox" hx-swap-oob="true"' in html and "1<span" in html


def test_sign_in_page_renders_errors(client, alice):
    response = client.post(reverse("account_login"), {"login": alice.email, "password": "wrong"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content


def test_a_delete_without_confirmation_only_asks(client, as_alice, alice, alice_mailbox):
    convo = receive(alice_mailbox, subject="Keep me").conversation_id
    # A plain form post (no JavaScript) gets the confirmation page...
    page = _html(as_alice.post(BULK, {"action": "delete", "ids": [convo], "folder": "inbox"}))
    assert "Delete 1 conversation?" in page and 'name="confirmed" value="1"' in page
    # ...and so does an htmx request that skipped the dialog.
    dialog = _html(as_alice.post(BULK, {"action": "delete", "ids": [convo]}, **HTMX))
    assert "<dialog" in dialog
    assert Conversation.objects.filter(pk=convo).exists()
    response = as_alice.post(BULK, {"action": "delete", "ids": [convo], "confirmed": "1"})
    assert response.status_code == 302 and not Conversation.objects.filter(pk=convo).exists()


def test_folder_counts_stop_at_the_cap(as_alice, alice, alice_mailbox, monkeypatch):
    from inbox import selectors

    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    ids = [receive(alice_mailbox, subject=f"C{i}").conversation_id for i in range(4)]
    html = _html(as_alice.get(reverse("inbox:folder")))
    assert re.search(r'id="count-inbox">.*?3\+<span class="visually-hidden"> unread', html)
    assert "3+ conversations, 3+ unread" in html
    services.archive_conversations(alice, ids[:2])
    html = _html(as_alice.get(reverse("inbox:folder")))
    assert "2 conversations, 2 unread" in html and re.search(r'id="count-archive">.*?2<span', html)
