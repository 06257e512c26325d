"""Adversarial IMAP: the server renumbers its messages, another client moves a message
between our SELECT and our MOVE, two messages share one Message-ID. Whatever happens, no
wrong message is ever moved — checked by the token in each message's body, not by the
Message-ID or UID the adapter itself relies on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import services
from inbox.models import ChangeStatus, ProviderChange
from inbox.settings_selectors import recent_changes
from sync.push import push_account
from tests.chaos.harness import ChaosDovecot, ImapProxy
from tests.chaos.scenario import ChaosMailbox, build_mailboxes, company_and_actor, folder_tokens
from tests.imap.dovecot import make_message

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def mailbox(dovecot: ChaosDovecot, messages: int, *, port: int = 0) -> ChaosMailbox:
    company, actor = company_and_actor()
    (box,) = build_mailboxes(dovecot, company=company, actor=actor, accounts=1, messages=messages, port=port)
    return box


def conversation(box: ChaosMailbox, token: str) -> int:
    message_id = next(mid for mid, t in box.token_of.items() if t == token)
    return box.conversation_of[message_id]


def tokens(box: ChaosMailbox, folder: str) -> set[str]:
    return set(folder_tokens(box.user, folder).values())


def push_when_due(box: ChaosMailbox):  # type: ignore[no-untyped-def]
    """The next attempt, without sleeping through the backoff (checked to lie ahead)."""
    waiting = ProviderChange.objects.filter(account=box.account, status=ChangeStatus.PENDING)
    assert all(change.next_attempt_at > timezone.now() for change in waiting)
    waiting.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    return push_account(box.account.pk)


def test_uidvalidity_reset_never_moves_the_message_that_now_has_the_old_uid(chaos_dovecot: ChaosDovecot):
    box = mailbox(chaos_dovecot, 6)
    before = folder_tokens(box.user, "INBOX")  # uid -> token, UIDs 1..6 in delivery order
    trashed, archived = before[2], before[5]
    services.delete_conversations(box.actor, [conversation(box, trashed)])
    services.archive_conversations(box.actor, [conversation(box, archived)])

    chaos_dovecot.reset_uidvalidity(box.user, "INBOX")  # a restore: new UIDVALIDITY, UIDs reversed

    after = folder_tokens(box.user, "INBOX")
    assert after[2] != trashed and after[5] != archived  # the old UIDs now name other messages
    summary = push_account(box.account.pk)
    assert summary.done == 2 and summary.failed == 0
    assert tokens(box, "Trash") == {trashed}
    assert tokens(box, "Archive") == {archived}
    assert tokens(box, "INBOX") == set(before.values()) - {trashed, archived}


def test_uidvalidity_reset_between_our_select_and_move_moves_nothing_then_the_retry_is_right(
    chaos_dovecot: ChaosDovecot, proxy: ImapProxy
):
    box = mailbox(chaos_dovecot, 4, port=proxy.port)
    every = set(folder_tokens(box.user, "INBOX").values())
    services.archive_conversations(box.actor, list(box.state))
    assert push_account(box.account.pk).done == 1
    archive = folder_tokens(box.user, "Archive")  # uid -> token
    back = archive[1]
    services.unarchive_conversations(box.actor, [conversation(box, back)])

    def restore_archive(line: bytes) -> None:
        # Another client (an admin restoring a backup) recreates the Archive folder, and
        # the messages come back numbered in reverse order under a new UIDVALIDITY.
        with box.user.client() as other:
            other.create_folder("Restore")
            other.select_folder("Archive")
            other.move(other.search("ALL"), "Restore")
            other.unselect_folder()
            other.delete_folder("Archive")
            other.create_folder("Archive")
            other.select_folder("Restore")
            for uid in reversed(other.search("ALL")):
                other.move([uid], "Archive")

    # Our EXAMINE has confirmed the message at its UID; the restore runs before our SELECT.
    proxy.before(rb'^\S+ SELECT "?Archive"?', restore_archive)
    first = push_account(box.account.pk)

    assert first.retrying == 1 and first.done == 0
    assert folder_tokens(box.user, "Archive")[1] != back  # UID 1 is another message now
    assert tokens(box, "INBOX") == set()  # nothing was moved on the old numbers
    assert tokens(box, "Archive") == every
    assert push_when_due(box).done == 1
    assert tokens(box, "INBOX") == {back}
    assert tokens(box, "Archive") == every - {back}
    assert tokens(box, "Trash") == set()


def test_message_moved_by_another_client_between_our_select_and_move_is_found_again(
    chaos_dovecot: ChaosDovecot, proxy: ImapProxy
):
    box = mailbox(chaos_dovecot, 4, port=proxy.port)
    inbox = folder_tokens(box.user, "INBOX")
    x, y = inbox[1], inbox[3]
    services.delete_conversations(box.actor, [conversation(box, x), conversation(box, y)])

    def archive_x_elsewhere(line: bytes) -> None:
        with box.user.client() as other:  # the user's phone archives x at that very moment
            other.select_folder("INBOX")
            other.move([1], "Archive")

    proxy.before(rb"^\S+ UID MOVE ", archive_x_elsewhere)
    first = push_account(box.account.pk)

    # Dovecot refuses the MOVE of a set with a message expunged meanwhile; nothing moved.
    assert first.retrying == 1
    assert tokens(box, "Trash") == set()
    assert tokens(box, "Archive") == {x}
    assert push_when_due(box).done == 1
    assert tokens(box, "Trash") == {x, y}  # x followed to the Archive by its Message-ID
    assert tokens(box, "INBOX") == set(inbox.values()) - {x, y}


def test_message_filed_in_a_folder_of_the_users_own_meanwhile_is_left_there_and_said_so(
    chaos_dovecot: ChaosDovecot, proxy: ImapProxy
):
    box = mailbox(chaos_dovecot, 3, port=proxy.port)
    inbox = folder_tokens(box.user, "INBOX")
    x = inbox[2]
    result = services.delete_conversations(box.actor, [conversation(box, x)])

    def file_x(line: bytes) -> None:
        with box.user.client() as other:
            other.create_folder("Projects")
            other.select_folder("INBOX")
            other.move([2], "Projects")

    proxy.before(rb"^\S+ UID MOVE ", file_x)
    assert push_account(box.account.pk).retrying == 1
    assert push_when_due(box).done == 1

    change = ProviderChange.objects.get(pk=result.changes[0].pk)
    assert change.result["not_found"] == 1 and change.result["not_found_notes"]
    assert tokens(box, "Projects") == {x}  # only searched where a delete may take it from
    assert tokens(box, "Trash") == set()
    assert tokens(box, "INBOX") == set(inbox.values()) - {x}


def test_two_messages_sharing_a_message_id_only_the_one_we_know_goes_to_trash(chaos_dovecot: ChaosDovecot):
    box = mailbox(chaos_dovecot, 2)
    ours = folder_tokens(box.user, "INBOX")[1]
    shared_id = next(mid for mid, t in box.token_of.items() if t == ours)
    twin = "chaos-token-twin-with-the-same-message-id"
    with box.user.client() as client:  # arrives after the last sync: the app never saw it
        client.append("INBOX", make_message(message_id=shared_id, subject="Other", body=f"Body {twin}")[1])

    services.delete_conversations(box.actor, [conversation(box, ours)])
    assert push_account(box.account.pk).done == 1

    assert tokens(box, "Trash") == {ours}  # its UID still carried the Message-ID: that one only
    assert twin in tokens(box, "INBOX")


def test_two_messages_sharing_a_message_id_after_a_renumbering_neither_moves_and_the_user_sees_why(
    chaos_dovecot: ChaosDovecot,
):
    box = mailbox(chaos_dovecot, 3)
    inbox = folder_tokens(box.user, "INBOX")
    ours = inbox[1]
    shared_id = next(mid for mid, t in box.token_of.items() if t == ours)
    twin = "chaos-token-twin-after-renumbering"
    with box.user.client() as client:
        client.append("INBOX", make_message(message_id=shared_id, subject="Other", body=f"Body {twin}")[1])
    result = services.delete_conversations(box.actor, [conversation(box, ours)])
    chaos_dovecot.reset_uidvalidity(box.user, "INBOX")  # our UID means nothing any more

    summary = push_account(box.account.pk)

    assert summary.failed == 1
    assert tokens(box, "Trash") == set()  # two candidates: we do not guess
    assert tokens(box, "INBOX") == set(inbox.values()) | {twin}
    change = ProviderChange.objects.get(pk=result.changes[0].pk)
    assert change.status == ChangeStatus.FAILED and "2 messages in INBOX" in change.last_error
    shown = [row for row in recent_changes(box.account) if row.change.pk == change.pk]
    assert shown[0].result == "failed" and shared_id in shown[0].why
