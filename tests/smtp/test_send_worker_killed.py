"""A real Celery worker SIGKILLed at each point of a send — before the SMTP DATA, after the
server accepted it (before the APPEND to Sent), after the APPEND — and a second worker that
finishes the change: the customer's mailbox holds the message exactly once, and so does Sent.

The kills come from the servers at exact protocol points: the SMTP server kills the worker
when its RCPT TO arrives; an IMAP relay (tests/chaos/harness.py ``ImapProxy``) kills it when
its APPEND (or the LOGOUT after the APPEND) arrives, and drops that command."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from inbox.models import OutgoingMessage, SendStage, SendState
from inbox.services.compose import ComposeInput, send_message, set_compose_settings
from inbox.services.nudge import PUSH_TASK, send_task_quietly
from tests.chaos.harness import DROP, ImapProxy
from tests.smtp.conftest import Sending
from tests.waiting import wait_until
from tests.worker import running_worker, unique_queue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.dovecot]


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)  # --pool=solo: the task runs in the main process


@pytest.mark.parametrize(
    ("point", "stage_left"),
    [
        ("before DATA", SendStage.NONE),
        ("after DATA, before APPEND", SendStage.ACCEPTED),
        ("after APPEND", SendStage.FILED),
    ],
)
def test_a_worker_killed_at_any_point_of_a_send_delivers_it_exactly_once(
    sending: Sending, alice, monkeypatch: pytest.MonkeyPatch, point: str, stage_left: str
):
    monkeypatch.setenv("OUTBOX_LEASE_SECONDS", "1")  # the second worker may take the change soon
    set_compose_settings(alice, signature_html="", undo_seconds=0)
    sending.rep.deliver(subject="Pricing", sender=sending.customer.login)
    sending.rep.pull()
    conversation = sending.rep.account.conversations.get()
    proxy = ImapProxy(sending.rep.user.server.port).start()
    account = sending.rep.account
    account.config = {**account.config, "port": proxy.port}
    account.save(update_fields=["config"])
    killed: list[str] = []

    with unique_queue("send-kill") as queue:
        with running_worker(queue=queue, name="first") as first:

            def kill_first(line: object) -> object:
                _kill(first)
                killed.append(point)
                return DROP

            if point == "before DATA":
                sending.smtp.hooks["rcpt"] = lambda peer: kill_first(peer)
            elif point == "after DATA, before APPEND":
                proxy.before(rb"^\S+ APPEND ", kill_first)
            else:
                proxy.before(rb"^\S+ LOGOUT", kill_first)
            outgoing = send_message(
                alice,
                ComposeInput(
                    conversation_id=conversation.pk,
                    reply_to_id=conversation.messages.get().pk,
                    mode="reply",
                    to=sending.customer.login,
                    subject="Re: Pricing",
                    html="<p>Ten euros.</p>",
                ),
            )
            assert wait_until(lambda: first.poll() is not None, timeout=60), "the worker was not killed"
        assert killed == [point]
        left = OutgoingMessage.objects.get(pk=outgoing.pk)
        assert left.state == SendState.SENDING and left.stage == stage_left

        with running_worker(queue=queue, name="second"):

            def sent() -> bool:
                send_task_quietly(PUSH_TASK, account.pk)  # the sweeper's re-nudge, sooner
                return OutgoingMessage.objects.get(pk=outgoing.pk).state == SendState.SENT

            assert wait_until(sent, timeout=60, interval=1.0)

    proxy.stop()
    mid = outgoing.message.message_id
    assert sending.customer_ids() == [mid]  # exactly once
    assert sending.rep.ids("sent") == [mid]
    assert len(sending.smtp.received) == 1  # the server took it once
