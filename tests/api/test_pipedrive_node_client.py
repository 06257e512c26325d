"""Pipedrive's official Node.js client (npm ``pipedrive``, pinned), unchanged, against a live server.

The client is installed with ``npm ci`` from tests/api/node_client/package-lock.json and
configured as its README shows (``new Configuration({ apiKey, basePath })``); it sends the
token in the ``x-api-token`` header and builds every request itself. run.js only calls its
methods: every v1 mailbox call (threads per folder, a thread, its messages, a message with
its body, archive, unarchive, delete), v1 leads and linked mail, and every API v2 call
served for deals, persons and organizations. Archive, unarchive and delete through the
client reach the real Dovecot mailbox through the real Celery worker when the switches
are on.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from api.tokens import issue_token
from crm.models import Deal, Organization, Person
from inbox import services
from inbox.models import ChangeStatus, Conversation, ProviderChange
from tests.factories import DealFactory, LeadFactory, add_person, parsed, receive
from tests.imap.conftest import make_setup
from tests.waiting import wait_until
from tests.worker import ROOT, running_worker, unique_queue

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_DIR = Path(__file__).resolve().parent / "node_client"
PINNED = "33.7.0"


def _npm_ci() -> None:
    """Install the pinned client once per lock file (a stamp records which), one run at a time."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "node and npm are needed: scripts/ensure-test-services.sh installs them (Debian nodejs, npm)"
        )
    lock_digest = hashlib.sha256((CLIENT_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = CLIENT_DIR / "node_modules" / ".sales-inbox-lock-sha256"
    lock_path = ROOT / "var" / "npm-ci.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test sessions must not npm ci over each other
        if stamp.exists() and stamp.read_text() == lock_digest:
            return
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=CLIENT_DIR,
            check=True,
            capture_output=True,
            timeout=600,
        )
        stamp.write_text(lock_digest)


@pytest.fixture(scope="session")
def node_client() -> Path:
    _npm_ci()
    installed = json.loads((CLIENT_DIR / "node_modules" / "pipedrive" / "package.json").read_text())
    assert installed["version"] == PINNED
    return CLIENT_DIR


@pytest.fixture
def run_client(node_client: Path, live_server, monkeypatch):  # type: ignore[no-untyped-def]
    # Live-server requests run in threads of their own: don't let them keep connections.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)

    def run(token: str, scenario: str, **args: Any) -> dict[str, Any]:
        plan = {"base": f"{live_server.url}/api", "token": token, "scenario": scenario, "args": args}
        # The server is local: no proxy in between, whatever this machine's settings.
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        done = subprocess.run(
            ["node", "run.js"],
            cwd=node_client,
            input=json.dumps(plan),
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.stdout, done.stderr
        outcome = json.loads(done.stdout)
        assert outcome["ok"], f"{scenario}: {outcome.get('call')} → {outcome.get('error')}\n{done.stderr}"
        return outcome["results"]

    return run


def _ok(reply: dict[str, Any]) -> Any:
    assert reply["success"] is True, reply
    return reply["data"]


# --- the v1 mailbox, into Dovecot ------------------------------------------------------------


@pytest.fixture
def rep_mailbox(dovecot, acme, alice, bob) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    setup = make_setup(dovecot, "personal", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


@pytest.mark.worker
@pytest.mark.dovecot
def test_every_mailbox_call_of_the_node_client_and_its_pushes_land_in_dovecot(run_client, rep_mailbox, alice):
    mailbox = rep_mailbox
    question = mailbox.deliver(subject="Contract question", body="Can we sign on Friday?")
    mailbox.deliver(subject="Other thread")
    mailbox.deliver("sent", subject="Sent proposal", sender=mailbox.account.address, to="client@client.test")
    mailbox.pull()
    mailbox.switches(archive=True, delete=True)
    thread_id = Conversation.objects.get(subject="Contract question").pk
    token = issue_token(alice)

    read = run_client(token, "mailbox", thread_id=thread_id)
    assert {t["subject"] for t in _ok(read["threads_inbox"])} == {"Contract question", "Other thread"}
    assert [t["subject"] for t in _ok(read["threads_sent"])] == ["Sent proposal"]
    assert _ok(read["threads_drafts"]) == [] and _ok(read["threads_archive"]) == []
    assert _ok(read["thread"])["id"] == thread_id and _ok(read["thread"])["folders"] == ["inbox"]
    [message] = _ok(read["messages"])
    assert message["mail_thread_id"] == thread_id and message["subject"] == "Contract question"
    one = read["message"]
    assert (one["statusCode"], one["statusText"]) == (200, "OK") and one["service"]
    assert "Can we sign on Friday?" in one["data"]["body"]

    with unique_queue("node") as queue, running_worker(queue=queue):
        archived = run_client(token, "archive", thread_id=thread_id)
        assert _ok(archived["archive"])["archived_flag"] == 1
        assert [t["id"] for t in _ok(archived["threads_archive"])] == [thread_id]
        # The archive switch is on: the on-commit nudge reaches the worker, which moves it.
        assert wait_until(lambda: mailbox.ids("archive") == [question], timeout=60)
        assert question not in mailbox.ids("inbox")

        unarchived = run_client(token, "unarchive", thread_id=thread_id)
        assert _ok(unarchived["unarchive"])["archived_flag"] == 0
        assert thread_id in [t["id"] for t in _ok(unarchived["threads_inbox"])]
        assert wait_until(
            lambda: question in mailbox.ids("inbox") and mailbox.ids("archive") == [], timeout=60
        )

        deleted = run_client(token, "delete", thread_id=thread_id)
        assert _ok(deleted["delete"]) == {"id": thread_id}
        assert deleted["thread_after_delete"]["errorCode"] == 404
        # The delete switch is on: to the Trash (never purged), and gone from the app.
        assert wait_until(lambda: mailbox.ids("trash") == [question], timeout=60)
        assert question not in mailbox.ids("inbox") and mailbox.ids("archive") == []
        assert not Conversation.objects.filter(pk=thread_id).exists()
        assert wait_until(
            lambda: set(ProviderChange.objects.values_list("status", flat=True)) == {ChangeStatus.DONE}
        )
    assert ProviderChange.objects.count() == 3  # archive, unarchive, trash: each once


# --- v1 leads and linked mail ---------------------------------------------------------------


def test_leads_and_linked_mail_through_the_node_client(run_client, alice, alice_mailbox, acme):
    person = add_person(acme, "Pat", "pat@client.test")
    deal = DealFactory(company=acme, person=person)
    lead = LeadFactory(company=acme, title="Lumbergh", person=person)
    convo = receive(alice_mailbox, parsed(sender="pat@client.test", to=(alice_mailbox.address,)))
    services.link_deal(alice, convo.conversation_id, deal.pk)

    got = run_client(
        issue_token(alice),
        "leads_and_record_mail",
        lead_id=str(lead.pk),
        deal_id=deal.pk,
        person_id=person.pk,
    )
    [listed] = _ok(got["leads"])
    assert listed["id"] == str(lead.pk) and listed["source_name"] == "Manually created"
    assert got["leads"]["additional_data"]["more_items_in_collection"] is False
    assert _ok(got["lead"])["person_id"] == person.pk
    for key in ("deal_mail", "person_mail"):
        [item] = _ok(got[key])
        assert item["object"] == "mailMessage" and item["data"]["mail_thread_id"] == convo.conversation_id
        assert got[key]["additional_data"] == {"start": 0, "limit": 100, "more_items_in_collection": False}


# --- API v2 -----------------------------------------------------------------------------


def test_every_v2_crm_call_of_the_node_client(run_client, alice, acme):
    DealFactory(company=acme, title="Older deal")
    before = (timezone.now() - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    got = run_client(
        issue_token(alice), "crm", person_email="peter@initech.test", owner_id=alice.pk, updated_since=before
    )

    org, person, deal = _ok(got["add_organization"]), _ok(got["add_person"]), _ok(got["add_deal"])
    assert (
        org["name"] == "Initech" and org["address"] == {"value": "1 Main St"} and org["owner_id"] == alice.pk
    )
    assert person["org_id"] == org["id"] and person["emails"][0]["value"] == "peter@initech.test"
    assert person["phones"] == [{"label": "work", "value": "+1 555 0100", "primary": True}]
    assert (deal["person_id"], deal["org_id"], deal["value"], deal["currency"]) == (
        person["id"],
        org["id"],
        1500,
        "USD",
    )
    # One deal per page, followed by next_cursor to the end.
    assert got["deal_titles_by_page"] == ["Older deal", "TPS reports"]
    assert got["deals_page_1"]["additional_data"]["next_cursor"] is None
    assert _ok(got["get_deal"])["title"] == "TPS reports"
    assert _ok(got["update_deal"])["status"] == "won" and _ok(got["update_deal"])["value"] == 2000
    assert [d["id"] for d in _ok(got["deals_filtered"])] == [deal["id"]]
    assert [p["id"] for p in _ok(got["persons"])] == [person["id"]]
    assert [p["id"] for p in _ok(got["persons_of_deal"])] == [person["id"]]
    assert _ok(got["get_person"])["name"] == "Peter Gibbons"
    assert _ok(got["update_person"])["name"] == "Peter G. Gibbons"
    assert [o["id"] for o in _ok(got["organizations"])] == [org["id"]]
    assert _ok(got["get_organization"])["name"] == "Initech"
    assert _ok(got["update_organization"])["name"] == "Initrode"
    for key, record in (("delete_deal", deal), ("delete_person", person), ("delete_organization", org)):
        assert _ok(got[key]) == {"id": record["id"]}
    assert got["get_deleted_deal"]["success"] is False and got["get_deleted_deal"]["errorCode"] == 404
    assert list(Deal.objects.values_list("title", flat=True)) == ["Older deal"]
    assert not Person.objects.exists() and not Organization.objects.exists()


def test_the_node_clients_wrong_token_gets_our_401_envelope(run_client, alice):
    issue_token(alice)
    got = run_client("0" * 40, "wrong_token")
    for key in ("deals", "threads"):
        assert got[key]["success"] is False and got[key]["errorCode"] == 401
        assert got[key]["error"] == "unauthorized access"
