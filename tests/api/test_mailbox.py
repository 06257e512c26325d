"""/mailbox/mailThreads and /mailbox/mailMessages: shapes, folders, writes through services."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox import selectors, services
from inbox.models import (
    AuditAction,
    AuditEvent,
    ChangeKind,
    Conversation,
    ConversationState,
    ProviderChange,
    Tombstone,
)
from tests.api.conftest import assert_error
from tests.factories import DealFactory, LeadFactory, add_person, parsed, receive, switches

pytestmark = pytest.mark.django_db

THREAD_FIELDS = {
    "id", "account_id", "user_id", "subject", "snippet", "read_flag", "has_attachments_flag",
    "deleted_flag", "synced_flag", "shared_flag", "archived_flag", "external_deleted_flag",
    "parties", "folders", "message_count", "first_message_timestamp", "last_message_timestamp",
    "add_time", "update_time", "deal_id", "deal_status", "lead_id",
}  # fmt: skip
FLAGS = {name for name in THREAD_FIELDS if name.endswith("_flag")}
PIPEDRIVE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _state(conversation_id: int) -> tuple:
    c = Conversation.objects.get(pk=conversation_id)
    return (c.state, c.deal_id, c.lead_id, c.shared, c.is_read)


# --- reading ---------------------------------------------------------------------------


def test_thread_carries_pipedrive_fields_with_0_1_flags_and_utc_timestamps(alice_api, alice_mailbox, acme):
    deal = DealFactory(company=acme, status="won")
    add_person(acme, "Cliff Customer", "cliff@client.test")
    convo = receive(
        alice_mailbox, parsed(sender="cliff@client.test", to=(alice_mailbox.address,))
    ).conversation_id
    services.link_deal(alice_mailbox.owner, convo, deal.pk)

    reply = alice_api.get(f"/mailbox/mailThreads/{convo}")

    assert reply.status == 200 and reply.body["success"] is True
    thread = reply.data
    assert set(thread) >= THREAD_FIELDS
    assert all(thread[f] in (0, 1) and type(thread[f]) is int for f in FLAGS)
    assert thread["archived_flag"] == 0 and thread["read_flag"] == 0 and thread["deleted_flag"] == 0
    assert thread["deal_id"] == deal.pk and thread["deal_status"] == "won" and thread["lead_id"] is None
    assert thread["account_id"] == str(alice_mailbox.pk) and thread["user_id"] == alice_mailbox.owner_id
    assert thread["folders"] == ["inbox"] and thread["message_count"] == 1
    for name in ("first_message_timestamp", "last_message_timestamp", "add_time", "update_time"):
        assert PIPEDRIVE_TIME.match(thread[name]), thread[name]
    sender = thread["parties"]["from"][0]
    assert sender["email_address"] == "cliff@client.test" and sender["linked_person_name"] == "Cliff Customer"
    assert [p["email_address"] for p in thread["parties"]["to"]] == [alice_mailbox.address]


def test_threads_list_newest_first_with_pipedrive_pagination(alice_api, alice_mailbox):
    ids = [receive(alice_mailbox, subject=f"S{i}").conversation_id for i in range(5)]
    newest_first = [c.pk for c in Conversation.objects.filter(pk__in=ids).order_by("-last_message_at", "-id")]

    first = alice_api.get("/mailbox/mailThreads", folder="inbox", start=0, limit=2)
    assert [t["id"] for t in first.data] == newest_first[:2]
    assert first.pagination == {"start": 0, "limit": 2, "more_items_in_collection": True, "next_start": 2}
    last = alice_api.get("/mailbox/mailThreads", folder="inbox", start=4, limit=2)
    assert [t["id"] for t in last.data] == newest_first[4:]
    assert last.pagination == {"start": 4, "limit": 2, "more_items_in_collection": False}


def test_paging_across_personal_and_team_mailboxes_walks_every_thread_once(
    alice_api, alice_mailbox, sales_mailbox
):
    ids = {
        receive(alice_mailbox if i % 2 else sales_mailbox, subject=f"M{i}").conversation_id for i in range(7)
    }
    seen, start = [], 0
    while True:
        page = alice_api.get("/mailbox/mailThreads", start=start, limit=3)
        seen += [t["id"] for t in page.data]
        if not page.pagination["more_items_in_collection"]:
            break
        start = page.pagination["next_start"]
    assert sorted(seen) == sorted(ids)


@pytest.mark.parametrize("folder", ["inbox", "sent", "archive"])
def test_folders_hold_what_the_browser_folders_hold(alice, alice_api, alice_mailbox, sales_mailbox, folder):
    receive(alice_mailbox, subject="incoming")
    receive(sales_mailbox, subject="team incoming")
    receive(alice_mailbox, parsed(subject="outgoing", incoming=False, sender=alice_mailbox.address))
    services.archive_conversations(alice, [receive(alice_mailbox, subject="old").conversation_id])

    via_api = {t["id"] for t in alice_api.get("/mailbox/mailThreads", folder=folder).data}

    assert via_api == {c.pk for c in selectors.folder_page(alice, folder).conversations}
    assert via_api  # every folder has something here, so equality means something


def test_drafts_folder_is_empty_and_unknown_folder_is_400(alice_api, alice_mailbox):
    receive(alice_mailbox)
    drafts = alice_api.get("/mailbox/mailThreads", folder="drafts")
    assert drafts.data == [] and drafts.pagination["more_items_in_collection"] is False
    assert_error(alice_api.get("/mailbox/mailThreads", folder="spam"), 400)


@pytest.mark.parametrize("params", [{"start": "-1"}, {"start": "x"}, {"limit": "0"}, {"limit": "501"}])
def test_bad_pagination_is_400(alice_api, params):
    assert_error(alice_api.get("/mailbox/mailThreads", **params), 400)


def test_thread_messages_and_one_message_with_and_without_body(alice_api, alice_mailbox):
    now = timezone.now()
    first = receive(
        alice_mailbox,
        parsed(subject="Quote", message_id="<q1@client.test>", text="First", when=now - timedelta(hours=1)),
    )
    receive(
        alice_mailbox,
        parsed(
            subject="Re: Quote",
            in_reply_to="<q1@client.test>",
            text="Second",
            sender="x@client.test",
            when=now,
        ),
    )
    listed = alice_api.get(f"/mailbox/mailThreads/{first.conversation_id}/mailMessages")
    assert [m["snippet"] for m in listed.data] == ["First", "Second"]
    assert all(m["mail_thread_id"] == first.conversation_id for m in listed.data)

    without = alice_api.get(f"/mailbox/mailMessages/{first.message_id}")
    with_body = alice_api.get(f"/mailbox/mailMessages/{first.message_id}", include_body=1)
    assert "body" not in without.data and with_body.data["body"] == "First"
    assert with_body.data["from"][0]["email_address"] == "customer@client.test"
    assert_error(alice_api.get(f"/mailbox/mailMessages/{first.message_id}", include_body=2), 400)


@pytest.mark.parametrize(
    "path",
    ["/mailbox/mailThreads/{c}", "/mailbox/mailThreads/{c}/mailMessages", "/mailbox/mailMessages/{m}"],
)
def test_carol_gets_404_for_acme_threads_and_messages(carol_api, alice_mailbox, path):
    result = receive(alice_mailbox)
    reply = carol_api.get(path.format(c=result.conversation_id, m=result.message_id))
    assert_error(reply, 404)


def test_teammate_does_not_see_a_private_mailbox_but_reads_a_shared_thread(alice, bob_api, alice_mailbox):
    private = receive(alice_mailbox, subject="Private").conversation_id
    shared = receive(alice_mailbox, subject="Shared").conversation_id
    assert private != shared
    services.set_shared(alice, shared, True)
    assert_error(bob_api.get(f"/mailbox/mailThreads/{private}"), 404)
    assert bob_api.get(f"/mailbox/mailThreads/{shared}").data["shared_flag"] == 1
    # Shared means readable in the company, not listed in bob's own folders.
    assert bob_api.get("/mailbox/mailThreads").data == []


@pytest.mark.parametrize("bad", ["abc", "1.5", "-3", "%20"])
def test_non_numeric_id_is_400(alice_api, bad):
    assert_error(alice_api.get(f"/mailbox/mailThreads/{bad}"), 400)


def test_zero_and_overlong_ids_are_404_not_a_database_error(alice_api):
    assert_error(alice_api.get("/mailbox/mailThreads/0"), 404)
    assert_error(alice_api.get("/mailbox/mailThreads/" + "9" * 30), 404)


# --- PUT -------------------------------------------------------------------------------


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_put_links_a_deal_through_the_service_with_audit(alice_api, alice_mailbox, acme, form):
    deal = DealFactory(company=acme)
    convo = receive(alice_mailbox).conversation_id
    reply = alice_api.put(f"/mailbox/mailThreads/{convo}", {"deal_id": deal.pk}, form=form)
    assert reply.status == 200 and reply.data["deal_id"] == deal.pk and reply.data["deal_status"] == "open"
    assert Conversation.objects.get(pk=convo).deal_id == deal.pk
    assert AuditEvent.objects.filter(action=AuditAction.LINK, conversation_ids=[convo]).exists()


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_put_lead_replaces_deal_and_null_unlinks(alice, alice_api, alice_mailbox, acme, form):
    deal, lead = DealFactory(company=acme), LeadFactory(company=acme)
    convo = receive(alice_mailbox).conversation_id
    services.link_deal(alice, convo, deal.pk)
    linked = alice_api.put(f"/mailbox/mailThreads/{convo}", {"lead_id": str(lead.pk)}, form=form)
    assert (linked.data["deal_id"], linked.data["lead_id"]) == (None, str(lead.pk))
    unlinked = alice_api.put(f"/mailbox/mailThreads/{convo}", {"lead_id": "" if form else None}, form=form)
    assert (unlinked.data["deal_id"], unlinked.data["lead_id"]) == (None, None)
    assert _state(convo)[1:3] == (None, None)


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_put_sets_shared_and_read_flags(alice_api, alice_mailbox, form):
    convo = receive(alice_mailbox).conversation_id
    reply = alice_api.put(f"/mailbox/mailThreads/{convo}", {"shared_flag": 1, "read_flag": "1"}, form=form)
    assert (reply.data["shared_flag"], reply.data["read_flag"]) == (1, 1)
    c = Conversation.objects.get(pk=convo)
    assert c.shared and c.is_read
    reply = alice_api.put(f"/mailbox/mailThreads/{convo}", {"read_flag": 0}, form=form)
    assert reply.data["read_flag"] == 0 and not Conversation.objects.get(pk=convo).is_read


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_archive_from_inbox_keeps_deal_link_and_queues_push_when_switch_is_on(
    alice, alice_api, alice_mailbox, acme, form
):
    switches(alice, archive=True)
    deal = DealFactory(company=acme)
    convo = receive(alice_mailbox).conversation_id
    services.link_deal(alice, convo, deal.pk)

    reply = alice_api.put(f"/mailbox/mailThreads/{convo}", {"archived_flag": 1}, form=form)

    assert reply.status == 200 and reply.data["archived_flag"] == 1 and reply.data["folders"] == ["archive"]
    assert reply.data["deal_id"] == deal.pk
    assert Conversation.objects.get(pk=convo).state == ConversationState.ARCHIVED
    assert ProviderChange.objects.filter(account=alice_mailbox, kind=ChangeKind.ARCHIVE).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.ARCHIVE, actor=alice).count() == 1


def test_archive_with_switch_off_touches_no_provider(alice_api, alice_mailbox):
    convo = receive(alice_mailbox).conversation_id
    assert alice_api.put(f"/mailbox/mailThreads/{convo}", {"archived_flag": 1}).data["archived_flag"] == 1
    assert not ProviderChange.objects.exists()


def test_unarchive_returns_to_inbox_and_pushes_back_when_switch_is_on(alice, alice_api, alice_mailbox):
    switches(alice, archive=True)
    convo = receive(alice_mailbox).conversation_id
    services.archive_conversations(alice, [convo])
    reply = alice_api.put(f"/mailbox/mailThreads/{convo}", {"archived_flag": "0"}, form=True)
    assert reply.data["archived_flag"] == 0 and reply.data["folders"] == ["inbox"]
    assert ProviderChange.objects.filter(kind=ChangeKind.UNARCHIVE).count() == 1


def test_archiving_a_sent_only_thread_gives_the_same_answer_in_the_browser_and_the_api(
    client, alice, alice_api, alice_mailbox, acme
):
    """inbox.folders.can_archive: any thread not archived yet, sent-only ones too (as in
    Pipedrive). The browser's archive and the API's archived_flag=1 both archive it."""
    deal = DealFactory(company=acme)
    sent_by_ui, sent_by_api = (
        receive(
            alice_mailbox,
            parsed(incoming=False, sender=alice_mailbox.address, to=("c@client.test",), subject=subject),
        ).conversation_id
        for subject in ("Quote A", "Quote B")
    )
    client.force_login(alice)
    page = client.post(reverse("inbox:bulk_action"), {"action": "archive", "ids": [sent_by_ui]})
    reply = alice_api.put(f"/mailbox/mailThreads/{sent_by_api}", {"archived_flag": 1, "deal_id": deal.pk})

    assert page.status_code in (200, 302) and reply.status == 200
    assert reply.data["archived_flag"] == 1 and set(reply.data["folders"]) == {"sent", "archive"}
    ui, api = Conversation.objects.get(pk=sent_by_ui), Conversation.objects.get(pk=sent_by_api)
    assert ui.state == api.state == ConversationState.ARCHIVED
    assert api.deal_id == deal.pk
    assert AuditEvent.objects.filter(action=AuditAction.ARCHIVE).count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"archived_flag": 2},
        {"archived_flag": True},
        {"read_flag": "yes"},
        {"shared_flag": -1},
        {"deal_id": "abc"},
        {"deal_id": 0},
        {"lead_id": 1.5},
    ],
)
def test_bad_field_values_are_400_and_change_nothing(alice_api, alice_mailbox, body):
    convo = receive(alice_mailbox).conversation_id
    before = _state(convo)
    assert_error(alice_api.put(f"/mailbox/mailThreads/{convo}", {"read_flag": 1, **body}), 400)
    assert _state(convo) == before
    assert not AuditEvent.objects.exists()


def test_unknown_or_other_company_deal_is_404_and_the_rest_of_the_request_is_not_applied(
    alice_api, alice_mailbox, carol
):
    convo = receive(alice_mailbox).conversation_id
    before = _state(convo)
    carols_deal = DealFactory(company=carol.company)
    for deal_id in (carols_deal.pk, carols_deal.pk + 1000):
        reply = alice_api.put(f"/mailbox/mailThreads/{convo}", {"deal_id": deal_id, "archived_flag": 1})
        assert_error(reply, 404)
    assert _state(convo) == before


def test_deal_and_lead_at_once_is_400(alice_api, alice_mailbox, acme):
    convo = receive(alice_mailbox).conversation_id
    body = {"deal_id": DealFactory(company=acme).pk, "lead_id": LeadFactory(company=acme).pk}
    assert_error(alice_api.put(f"/mailbox/mailThreads/{convo}", body), 400)


def test_bad_json_and_unsupported_content_type(alice_api, alice_mailbox):
    convo = receive(alice_mailbox).conversation_id
    url = f"/api/v1/mailbox/mailThreads/{convo}?api_token={alice_api.token}"
    bad_json = alice_api.client.put(url, "{not json", content_type="application/json")
    assert bad_json.status_code == 400 and bad_json.json()["success"] is False
    xml = alice_api.client.put(url, "<x/>", content_type="application/xml")
    assert xml.status_code == 415


def test_teammate_reading_a_shared_thread_may_not_change_it(alice, bob_api, alice_mailbox):
    convo = receive(alice_mailbox).conversation_id
    services.set_shared(alice, convo, True)
    before = _state(convo)
    assert_error(bob_api.put(f"/mailbox/mailThreads/{convo}", {"archived_flag": 1}), 403)
    assert_error(bob_api.delete(f"/mailbox/mailThreads/{convo}"), 403)
    assert _state(convo) == before


def test_team_mailbox_member_can_archive_team_thread(bob_api, sales_mailbox):
    convo = receive(sales_mailbox).conversation_id
    assert bob_api.put(f"/mailbox/mailThreads/{convo}", {"archived_flag": 1}).data["archived_flag"] == 1


def test_carol_cannot_change_or_delete_acme_threads(carol_api, alice_mailbox):
    convo = receive(alice_mailbox).conversation_id
    before = _state(convo)
    assert_error(carol_api.put(f"/mailbox/mailThreads/{convo}", {"archived_flag": 1}), 404)
    assert_error(carol_api.delete(f"/mailbox/mailThreads/{convo}"), 404)
    assert _state(convo) == before


# --- DELETE ----------------------------------------------------------------------------


def test_delete_removes_thread_tombstones_it_and_trashes_when_switch_is_on(alice, alice_api, alice_mailbox):
    switches(alice, delete=True)
    result = receive(alice_mailbox)
    reply = alice_api.delete(f"/mailbox/mailThreads/{result.conversation_id}")
    assert reply.status == 200 and reply.data == {"id": result.conversation_id}
    assert not Conversation.objects.filter(pk=result.conversation_id).exists()
    assert Tombstone.objects.filter(account=alice_mailbox).exists()
    assert ProviderChange.objects.filter(kind=ChangeKind.TRASH).count() == 1
    assert_error(alice_api.get(f"/mailbox/mailThreads/{result.conversation_id}"), 404)
    assert_error(alice_api.delete(f"/mailbox/mailThreads/{result.conversation_id}"), 404)


def test_delete_with_switch_off_stays_in_the_app(alice_api, alice_mailbox):
    convo = receive(alice_mailbox).conversation_id
    assert alice_api.delete(f"/mailbox/mailThreads/{convo}").status == 200
    assert not ProviderChange.objects.exists()
