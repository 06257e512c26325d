"""Archive and unarchive on a Gmail-style server (matrix variant (d)): All Mail (``\\All``) and
no Archive folder. Archiving leaves INBOX while the message stays in All Mail; unarchiving
brings back only what is in All Mail alone — a message All Mail shows because it is still in
INBOX, or the rep's reply in Sent, is left where it is. Every step leaves one live copy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inbox import services
from inbox.models import ChangeStatus, Conversation, ProviderChange, ProviderRef
from inbox.services.outbox import ref_snapshots
from sync.providers.base import Outcome, PushRequest
from sync.providers.imap import ImapAdapter, verify_mailbox
from tests.imap.conftest import ImapSetup, make_setup
from tests.imap.dovecot import Dovecot

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]
ALL_MAIL = "[Gmail]/All Mail"


@pytest.fixture
def gmail(dovecot_gmail: Dovecot, acme, alice, bob) -> Iterator[ImapSetup]:  # type: ignore[no-untyped-def]
    setup = make_setup(dovecot_gmail, "personal", acme=acme, alice=alice, bob=bob)
    setup.switches(archive=True)
    yield setup
    setup.close()


def _thread(setup: ImapSetup) -> tuple[str, str, Conversation]:
    question = setup.deliver(subject="Seats", sender="buyer@client.test")
    reply = setup.deliver(
        "sent", subject="Re: Seats", sender=setup.account.address, to="buyer@client.test",
        in_reply_to=question, references=question,
    )  # fmt: skip
    setup.pull()
    return question, reply, Conversation.objects.get(account=setup.account, subject="Seats")


def test_all_mail_is_found_and_there_is_no_archive_folder(dovecot_gmail: Dovecot):
    user = dovecot_gmail.add_user()
    verified = verify_mailbox(password=user.password, **user.account_config())  # type: ignore[arg-type]
    assert verified.config["folders"] == {
        "inbox": "INBOX",
        "sent": "[Gmail]/Sent Mail",
        "archive": None,
        "trash": "[Gmail]/Trash",
        "all": ALL_MAIL,
    }
    assert verified.folders.archives_into_all_mail


def test_archive_leaves_the_inbox_and_unarchive_brings_it_back_leaving_the_reply_in_sent(gmail: ImapSetup):
    question, reply, conversation = _thread(gmail)

    (archived,) = services.archive_conversations(gmail.actor, [conversation.pk]).changes
    gmail.push()
    archived.refresh_from_db()
    assert archived.status == ChangeStatus.DONE and archived.result["moved"] == 1
    assert gmail.placement() == {question: "archive", reply: "sent"}
    assert ProviderRef.objects.get(account=gmail.account, message__message_id=question).folder == ALL_MAIL

    (unarchived,) = services.unarchive_conversations(gmail.actor, [conversation.pk]).changes
    gmail.push()

    unarchived.refresh_from_db()
    assert unarchived.status == ChangeStatus.DONE and unarchived.result["moved"] == 1
    assert gmail.placement() == {question: "inbox", reply: "sent"}
    assert ProviderRef.objects.get(account=gmail.account, message__message_id=question).folder == "INBOX"


def test_unarchive_of_a_message_all_mail_shows_because_it_is_still_in_the_inbox_moves_nothing(
    gmail: ImapSetup,
):
    question, reply, conversation = _thread(gmail)
    refs = ref_snapshots(gmail.account.pk, {"message__conversation_id": conversation.pk})
    with gmail.client() as client:  # point the snapshot at the All Mail entries of both
        selected = client.select_folder(ALL_MAIL, readonly=True)
        for ref in refs:
            (uid,) = client.search(["HEADER", "Message-ID", str(ref["message_id"])])
            ref.update(folder=ALL_MAIL, uid=uid, uidvalidity=int(selected[b"UIDVALIDITY"]), key=f"x{uid}")

    (result,) = ImapAdapter(gmail.account).push([PushRequest(1, "unarchive", refs)])

    assert result.outcome == Outcome.DONE
    assert result.details.get("already") == 1 and result.details.get("left") == 1
    assert "moved" not in result.details
    assert gmail.placement() == {question: "inbox", reply: "sent"}
    assert not ProviderChange.objects.exists()
