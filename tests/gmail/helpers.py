"""Small helpers for the Gmail tests."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from inbox.models import ChangeStatus, Conversation, MailAccount, ProviderChange, ProviderRef
from inbox.services import ingest_message
from inbox.types import RefData
from sync.models import FolderState
from sync.providers.base import PullReport
from sync.pull import pull_account
from sync.push import PushSummary, push_account
from tests.factories import parsed
from tests.fakes.gmail_server import Mailbox, MessageFactory

if TYPE_CHECKING:
    from tests.gmail.conftest import GmailSetup

_subjects = itertools.count(1)


def seeded(
    account: MailAccount, mailbox: Mailbox, mail: MessageFactory, *, subject: str | None = None
) -> tuple[str, int]:
    """A message in the Gmail mailbox that the app already has (as a sync would have left
    it), without going through a pull: for tests whose subject is the push side.

    Returns (Gmail id, conversation id)."""
    subject = subject or f"Pricing {next(_subjects)}"  # one conversation each
    raw, mid = mail.make(subject=subject, to=account.address)
    gmail_id = mailbox.deliver(raw)
    message = mailbox.messages[gmail_id]
    result = ingest_message(
        account,
        parsed(subject=subject, message_id=mid, to=(account.address,)),
        RefData(key=gmail_id, folder="INBOX", thread_id=message.thread_id),
    )
    assert result.conversation_id is not None
    return gmail_id, result.conversation_id


def drain(account: MailAccount, *, rounds: int = 20) -> list[PushSummary]:
    """Push until nothing is pending; instead of sleeping through a backoff, make each
    waiting change due now (after checking it was put off, never retried at once)."""
    summaries = []
    for _ in range(rounds):
        summaries.append(push_account(account.pk))
        pending = ProviderChange.objects.filter(account=account, status=ChangeStatus.PENDING)
        if not pending.exists():
            return summaries
        assert all(c.next_attempt_at > timezone.now() for c in pending)
        pending.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    raise AssertionError(f"changes still pending after {rounds} pushes: {summaries}")


def conversation_of(account: MailAccount, gmail_id: str) -> Conversation | None:
    ref = (
        ProviderRef.objects.filter(account=account, key=gmail_id)
        .select_related("message__conversation")
        .first()
    )
    return ref.message.conversation if ref else None


def seeded_many(
    account: MailAccount, mailbox: Mailbox, mail: MessageFactory, n: int
) -> list[tuple[str, int]]:
    """Like ``seeded`` for many messages at once, written in bulk (the ingest path itself is
    covered by the sync tests; here only the volume for the push matters)."""
    from inbox.models import Message

    now = timezone.now()
    gmail_ids, conversations, messages = [], [], []
    for i in range(n):
        subject = f"Bulk {next(_subjects)}"
        raw, mid = mail.make(subject=subject, to=account.address)
        gmail_ids.append(mailbox.deliver(raw))
        conversations.append(
            Conversation(
                company_id=account.company_id,
                account=account,
                subject=subject,
                normalized_subject=subject.lower(),
                first_message_at=now - timedelta(seconds=i),
                last_message_at=now - timedelta(seconds=i),
                message_count=1,
                has_incoming=True,
            )
        )
        messages.append(Message(account=account, message_id=mid, subject=subject, sent_at=now))
    Conversation.objects.bulk_create(conversations)
    for conversation, message in zip(conversations, messages, strict=True):
        message.conversation = conversation
    Message.objects.bulk_create(messages)
    ProviderRef.objects.bulk_create(
        [
            ProviderRef(
                message=m, account=account, key=g, folder="INBOX", thread_id=mailbox.messages[g].thread_id
            )
            for m, g in zip(messages, gmail_ids, strict=True)
        ]
    )
    return [(g, c.pk) for g, c in zip(gmail_ids, conversations, strict=True)]


def pull(setup: GmailSetup) -> PullReport:
    """A pull of the setup's account that must not fail: its report."""
    summary = pull_account(setup.account.pk)
    assert not summary.error, summary.error
    assert summary.report is not None
    return summary.report


def arrive(setup: GmailSetup, mail: MessageFactory, **kwargs: Any) -> str:
    """A new message to the setup's mailbox, from ``mail.make(**kwargs)``: its Gmail id."""
    raw, _ = mail.make(to=setup.account.address, **kwargs)
    return setup.mailbox.deliver(raw)


def cursor(setup: GmailSetup) -> str:
    """The history id the app last stored for the account."""
    return FolderState.objects.get(account=setup.account, folder="").cursor
