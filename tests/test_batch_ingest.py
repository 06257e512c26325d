"""A fetched batch ingested with bulk statements ends exactly as one-by-one ingest did.

Each scenario runs twice on two mailboxes of the same company: once through
``store_raw_message`` per message (the reference: one ``ingest_message`` each) and once
through ``store_raw_messages`` (one bulk ingest of the batch); the resulting conversations,
messages, references, participants, outcomes and quarantine rows must be the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import PersonEmail
from inbox.models import (
    Conversation,
    ConversationState,
    MailAccount,
    Message,
    ProviderRef,
    Tombstone,
)
from inbox.types import RefData
from sync.models import FaultState, QuarantinedMessage
from sync.store import RawItem, StoreOutcome, store_raw_message, store_raw_messages
from tests.factories import add_person

pytestmark = pytest.mark.django_db

BASE = timezone.now().replace(microsecond=0) - timedelta(days=3)


def mail(
    account: MailAccount,
    mid: str,
    subject: str = "Pricing",
    *,
    sender: str = "dana@client.test",
    to: str = "",
    reply_to: str = "",
    minutes: int = 0,
    body: str = "Hello",
) -> bytes:
    headers = [
        f"From: {sender.split('@')[0].title()} <{sender}>",
        f"To: {to or account.address}",
        f"Subject: {subject}",
        f"Date: {format_datetime(BASE + timedelta(minutes=minutes))}",
    ]
    if mid:
        headers.append(f"Message-ID: {mid}")
    if reply_to:
        headers += [f"In-Reply-To: {reply_to}", f"References: {reply_to}"]
    return ("\r\n".join([*headers, "Content-Type: text/plain; charset=utf-8", "", body, ""])).encode()


def item(raw: bytes, uid: int, *, folder: str = "INBOX", seen: bool = False) -> RawItem:
    ref = RefData(key=f"imap:{folder}:1:{uid}", folder=folder, uidvalidity=1, uid=uid)
    return RawItem(raw, ref, incoming=False if folder == "Sent" else None, is_read=seen)


UNPARSABLE = (
    "Subject: deep\r\n"
    + "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(3000))
).encode()  # deeper than the email package can recurse: quarantined


def fingerprint(account: MailAccount, outcomes: list[StoreOutcome]) -> dict[str, object]:
    """Everything ingest writes, named by Message-ID and address instead of database ids."""
    own = account.address

    def who(address: str) -> str:
        return "OWN" if address == own else address

    conversations = []
    for conversation in Conversation.objects.filter(account=account):
        messages = sorted(conversation.messages.values_list("message_id", flat=True))
        participants = sorted(
            (who(p.address), who(p.address) if p.address == own else p.name, p.person_id, p.is_sender)
            for p in conversation.participants.all()
        )
        conversations.append(
            (
                tuple(messages),
                conversation.subject,
                conversation.normalized_subject,
                conversation.state,
                conversation.message_count,
                conversation.first_message_at,
                conversation.last_message_at,
                conversation.snippet,
                conversation.has_incoming,
                conversation.has_outgoing,
                conversation.has_attachments,
                conversation.is_read,
                tuple(participants),
            )
        )
    refs = sorted(
        (ref.key, ref.folder, ref.uid, ref.message.message_id)
        for ref in ProviderRef.objects.filter(account=account).select_related("message")
    )
    messages = sorted(
        (m.message_id, m.subject, who(m.from_address), m.sent_at, m.direction, m.text, m.in_reply_to)
        for m in Message.objects.filter(account=account)
    )
    quarantined = sorted(
        QuarantinedMessage.objects.filter(account=account).values_list("provider_key", "state")
    )
    return {
        "outcomes": [str(o) for o in outcomes],
        "conversations": sorted(conversations),
        "refs": refs,
        "messages": messages,
        "quarantined": quarantined,
    }


def person(account: MailAccount, name: str, address: str) -> None:
    """One person for both mailboxes (same company): created by whichever scenario runs first."""
    if not PersonEmail.objects.filter(company=account.company, email=address).exists():
        add_person(account.company, name, address)


Scenario = Callable[[MailAccount], list[RawItem]]


def both_ways(alice_mailbox: MailAccount, bob_mailbox: MailAccount, scenario: Scenario) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """Alice's mailbox one by one (the reference), Bob's as one batch."""
    one_by_one = [
        store_raw_message(
            alice_mailbox,
            i.raw,
            i.ref,
            incoming=i.incoming,
            is_read=i.is_read,
            fallback_date=i.fallback_date,
            headers_only_reason=i.headers_only_reason,
        )
        for i in scenario(alice_mailbox)
    ]
    batch_items = scenario(bob_mailbox)
    with CaptureQueriesContext(connection) as queries:
        batched = store_raw_messages(bob_mailbox, batch_items)
    return fingerprint(alice_mailbox, one_by_one), {
        **fingerprint(bob_mailbox, batched),
        "_queries": len(queries),
    }


def mixed_batch(account: MailAccount) -> list[RawItem]:
    """Before the batch: an archived conversation, a tombstone, a stored message, a retrying fault."""
    store_raw_message(
        account, mail(account, "<old@client.test>", subject="Renewal", minutes=-60), item(b"", 1).ref
    )
    store_raw_message(account, mail(account, "<known@client.test>", subject="Known"), item(b"", 2).ref)
    store_raw_message(
        account,
        mail(account, "<early-child@client.test>", "Re: Late", reply_to="<late-parent@client.test>"),
        item(b"", 3).ref,
    )
    Conversation.objects.filter(account=account, subject="Renewal").update(
        state=ConversationState.ARCHIVED, archived_at=timezone.now()
    )
    Tombstone.objects.create(account=account, provider_key="imap:INBOX:1:99", message_id="<gone@client.test>")
    QuarantinedMessage.objects.create(
        account=account, provider_key="imap:INBOX:1:14", state=FaultState.RETRYING, reason="refused once"
    )
    person(account, "Erin", "erin@client.test")
    account.__dict__.pop("_quarantined_keys", None)  # a pull loads them afresh
    return [
        item(
            mail(account, "<gone@client.test>", subject="Deleted in the app"), 10
        ),  # tombstoned by Message-ID
        item(mail(account, "<other@client.test>", subject="Deleted by key"), 99),  # tombstoned by key
        item(mail(account, "<known@client.test>", subject="Known"), 2),  # duplicate: same key
        item(
            mail(account, "<known@client.test>", subject="Known"), 11, folder="Archive"
        ),  # duplicate elsewhere
        item(
            mail(account, "<child@client.test>", "Re: Quote", reply_to="<parent@client.test>", minutes=5), 12
        ),  # before parent
        item(mail(account, "<parent@client.test>", subject="Quote", minutes=1), 13),
        item(UNPARSABLE, 15),  # quarantined
        item(mail(account, "<was-refused@client.test>", subject="Back", sender="erin@client.test"), 14),
        item(
            mail(
                account, "<renewal-reply@client.test>", "Re: Renewal", reply_to="<old@client.test>", minutes=7
            ),
            16,
        ),
        item(mail(account, "<late-parent@client.test>", subject="Late", minutes=-5), 17),  # child in the DB
        item(
            mail(account, "<sent@acme.test>", sender=account.address, to="dana@client.test"),
            18,
            folder="Sent",
        ),
        item(
            mail(account, "<sent@acme.test>", sender=account.address, to="dana@client.test"), 19
        ),  # same, INBOX
        # Subject fallback: same normalized subject and a shared address, no headers to thread by.
        item(mail(account, "<inv-1@client.test>", subject="Invoice 7", minutes=20), 20),
        item(mail(account, "<inv-2@client.test>", subject="RE: invoice 7", minutes=30, body="Paid"), 21),
        item(
            mail(account, "<inv-3@client.test>", subject="Invoice 7", sender="zed@else.test", minutes=40), 22
        ),
        item(mail(account, "", subject="No id at all", minutes=50), 23, seen=True),
        item(mail(account, "<twice@client.test>", subject="Twice"), 24),
        item(mail(account, "<twice@client.test>", subject="Twice"), 24),  # same key twice in a batch
    ]


def test_batch_with_tombstoned_duplicate_early_reply_and_quarantined_ingests_as_one_by_one(
    alice_mailbox, bob_mailbox
):
    one_by_one, batched = both_ways(alice_mailbox, bob_mailbox, mixed_batch)
    queries = batched.pop("_queries")

    assert batched == one_by_one
    outcomes = one_by_one["outcomes"]
    assert outcomes[:4] == ["tombstoned", "tombstoned", "duplicate", "duplicate"]
    assert outcomes[6] == "quarantined" and outcomes.count("quarantined") == 1
    assert outcomes[-1] == "duplicate"
    by_messages = {c[0]: c for c in one_by_one["conversations"]}
    assert ("<child@client.test>", "<parent@client.test>") in by_messages  # reply before parent
    assert ("<early-child@client.test>", "<late-parent@client.test>") in by_messages
    renewal = by_messages[("<old@client.test>", "<renewal-reply@client.test>")]
    assert renewal[3] == ConversationState.INBOX  # a new message brought it back (decision 3)
    assert ("<inv-1@client.test>", "<inv-2@client.test>") in by_messages  # subject fallback
    assert one_by_one["quarantined"] == [
        ("imap:INBOX:1:15", FaultState.QUARANTINED)
    ]  # the refused one cleared
    erin = next(p for c in one_by_one["conversations"] for p in c[12] if p[0] == "erin@client.test")
    assert erin[2] is not None  # linked to the person with that address
    # The whole batch (quarantine and fault rows included) in a bounded number of statements.
    assert queries <= 30, queries


@pytest.mark.slow  # seconds of its own: not in `make quick`
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_batches_ingest_as_one_by_one(alice_mailbox, bob_mailbox, seed):
    """Threads, replies before parents, subject fallbacks, duplicates and tombstones at random."""

    def scenario(account: MailAccount) -> list[RawItem]:
        rng = random.Random(seed)
        people = [f"p{n}@client{n % 3}.test" for n in range(6)]
        person(account, "P Zero", people[0])
        ids: list[str] = []
        items: list[RawItem] = []
        for n in range(120):
            mid = f"<r{n}@client.test>" if rng.random() > 0.05 else ""
            reply = rng.choice([*ids, f"<future{n + 3}@client.test>"]) if ids and rng.random() < 0.5 else ""
            if rng.random() < 0.05 and n + 3 < 120:
                mid = f"<future{n + 3}@client.test>"
            if rng.random() < 0.08 and ids:
                mid = rng.choice(ids)  # the same message again (another folder or UID)
            raw = mail(
                account,
                mid,
                subject=rng.choice(["Offer", "Re: Offer", "Demo", "Contract", ""]),
                sender=rng.choice([*people, account.address]),
                to=rng.choice([account.address, people[1], f"{account.address}, {people[2]}"]),
                reply_to=reply,
                minutes=rng.randint(-60 * 24 * 40, 60),
                body=f"body {n}",
            )
            items.append(item(raw, rng.randint(1, 200), folder=rng.choice(["INBOX", "INBOX", "Sent"])))
            if mid:
                ids.append(mid)
        # Half of them stored before (one by one, on both sides), some of those tombstoned/archived.
        for earlier in items[:40]:
            store_raw_message(account, earlier.raw, earlier.ref, incoming=earlier.incoming)
        Conversation.objects.filter(account=account, messages__message_id__in=ids[:8]).update(
            state=ConversationState.ARCHIVED
        )
        Tombstone.objects.create(account=account, provider_key=items[50].ref.key, message_id=ids[3])
        return items[40:]

    one_by_one, batched = both_ways(alice_mailbox, bob_mailbox, scenario)
    queries = batched.pop("_queries")
    assert batched == one_by_one
    assert queries <= 30, queries  # 80 messages: not five to ten statements per message
    assert set(one_by_one["outcomes"]) >= {"created", "duplicate", "tombstoned"}


def test_a_batch_postgres_refuses_falls_back_to_one_by_one_and_quarantines_only_the_bad_one(alice_mailbox):
    """A row the bulk statement cannot write (here: a Message-ID far over the column's size is
    cut, but a folder name over 500 characters is not): the rest of the batch still lands."""
    good = item(mail(alice_mailbox, "<fine@client.test>", subject="Fine"), 1)
    bad_ref = RefData(key="imap:INBOX:1:2", folder="F" * 600, uidvalidity=1, uid=2)
    bad = RawItem(mail(alice_mailbox, "<bad@client.test>", subject="Bad"), bad_ref)

    outcomes = store_raw_messages(alice_mailbox, [good, bad])

    assert outcomes == [StoreOutcome.CREATED, StoreOutcome.QUARANTINED]
    assert list(Message.objects.filter(account=alice_mailbox).values_list("message_id", flat=True)) == [
        "<fine@client.test>"
    ]
    assert QuarantinedMessage.objects.get(account=alice_mailbox).provider_key == "imap:INBOX:1:2"


def stored_rows(account: MailAccount) -> list[tuple]:  # type: ignore[type-arg]
    """Every column a batch writes by COPY, per message (ids and times left out)."""
    from inbox.models import Attachment

    rows = []
    for m in Message.objects.filter(account=account).order_by("message_id"):
        files = list(
            Attachment.objects.filter(message=m)
            .order_by("position")
            .values_list(
                "position",
                "filename",
                "content_type",
                "size",
                "inline",
                "content_id",
                "part",
                "transfer_encoding",
                "provider_id",
                "file",
            )
        )
        rows.append(
            (
                m.message_id,
                m.in_reply_to,
                m.references,
                m.subject,
                m.from_address,
                m.from_name,
                m.to,
                m.cc,
                m.text,
                m.html,
                m.attachments,
                m.direction,
                m.parse_problems,
                m.conversation.company_id,
                m.conversation.shared,
                m.conversation.deal_id,
                files,
            )
        )
    return rows


def test_a_batch_stores_recipients_attachments_and_problems_as_one_by_one(alice_mailbox, bob_mailbox):
    """The COPY rows: recipients (JSON), files (an inline logo, a PDF), HTML, references and
    the parse problems come out as the one-by-one ingest stored them."""
    from tests.attachment_mail import export_message

    files = export_message(to="Carol <carol@else.test>")  # one Message-ID for both mailboxes
    messy = (
        b'From: "Dana, Client" <dana@client.test>\r\nTo: =?utf-8?q?Caf=C3=A9?= <cafe@client.test>\r\n'
        b"Cc: erin@client.test\r\nSubject: no date\r\nMessage-ID: <messy@client.test>\r\n"
        b"References: <a@client.test> <b@client.test>\r\nIn-Reply-To: <b@client.test>\r\n\r\n"
        b"tab\tand \x00 nul\r\n"
    )

    def scenario(account: MailAccount) -> list[RawItem]:
        return [item(files, 1), RawItem(messy, item(b"", 2).ref, fallback_date=BASE)]

    one_by_one, batched = both_ways(alice_mailbox, bob_mailbox, scenario)
    batched.pop("_queries")

    assert batched == one_by_one
    alice_rows, bob_rows = stored_rows(alice_mailbox), stored_rows(bob_mailbox)
    assert bob_rows == alice_rows
    assert len(alice_rows[0][-1]) >= 2  # the export's files were listed (and so compared)
    assert any("no Date header" in p for row in alice_rows for p in row[12])
