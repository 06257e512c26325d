"""Provider faults: Gmail and Outlook mailboxes on the flaky fake servers, users archiving,
unarchiving and deleting, and every change done in the end with each Retry-After honoured.

Shared by the suite (pushes run in this process, as soon as a change is due) and the long
``make chaos`` run (pushes run in the Celery workers, re-nudged by beat).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from django.utils import timezone

from accounts.models import Company, User
from inbox.models import AccountKind, ChangeStatus, Conversation, MailAccount, Provider, ProviderChange
from inbox.services import ingest_message
from inbox.types import RefData
from sync.providers.outlook import auth as graph_auth
from sync.push import push_account
from tests.chaos.flaky import FlakyGmail, FlakyMicrosoft, HitLog
from tests.chaos.scenario import Actor, ChangeFigures, change_figures
from tests.factories import parsed
from tests.fakes.gmail_server import MessageFactory
from tests.fakes.graph_server import make_mime
from tests.gmail.helpers import seeded_many

REDIRECT_URI = "https://inbox.example.test/email-sync/microsoft/callback"


@dataclass
class ProviderBox:
    """One mailbox at a fake provider, as the Actor of scenario.py drives it."""

    provider: str
    account: MailAccount
    actor: User
    where: Callable[[str], str]  # provider key -> inbox | archived | deleted | elsewhere
    key_of: dict[int, str] = field(default_factory=dict)  # conversation -> provider key
    state: dict[int, str] = field(default_factory=dict)
    visited: dict[int, set[str]] = field(default_factory=dict)

    def live(self, state: str) -> list[int]:
        return [c for c, s in self.state.items() if s == state]


def _account(company: Company, actor: User, provider: str, address: str, credentials: dict) -> MailAccount:  # type: ignore[type-arg]
    account = MailAccount.objects.create(
        company=company,
        kind=AccountKind.TEAM,
        provider=provider,
        address=address,
        name=address,
        credentials=credentials,
        archive_in_provider=True,
        delete_in_provider=True,
    )
    account.members.set([actor])
    return account


def gmail_boxes(
    server: FlakyGmail, *, company: Company, actor: User, accounts: int, messages: int
) -> list[ProviderBox]:
    boxes = []
    mail = MessageFactory()
    for n in range(accounts):
        address = f"chaos-gmail-{n}-{company.pk}@acme.test"
        mailbox = server.add_mailbox(address)
        account = _account(company, actor, Provider.GMAIL, address, {"refresh_token": mailbox.refresh_token})

        def where(key: str, mailbox=mailbox) -> str:  # type: ignore[no-untyped-def]
            labels = mailbox.labels_of(key)
            return "deleted" if "TRASH" in labels else "inbox" if "INBOX" in labels else "archived"

        box = ProviderBox("gmail", account, actor, where)
        for gmail_id, conversation_id in seeded_many(account, mailbox, mail, messages):
            box.key_of[conversation_id] = gmail_id
            box.state[conversation_id] = "inbox"
        boxes.append(box)
    return boxes


def outlook_boxes(
    server: FlakyMicrosoft, *, company: Company, actor: User, accounts: int, messages: int
) -> list[ProviderBox]:
    boxes = []
    folders = {"inbox": "inbox", "archive": "archived", "deleteditems": "deleted"}
    for n in range(accounts):
        address = f"chaos-outlook-{n}-{company.pk}@acme.test"
        mailbox = server.add_mailbox(address)
        flow = graph_auth.start_connect(REDIRECT_URI, login_hint=address)
        credentials = graph_auth.finish_connect(flow, server.sign_in(flow["auth_uri"])).credentials
        account = _account(company, actor, Provider.OUTLOOK, address, credentials)

        def where(key: str, mailbox=mailbox) -> str:  # type: ignore[no-untyped-def]
            return folders.get(mailbox.folder_of(key) or "", "elsewhere")

        box = ProviderBox("outlook", account, actor, where)
        for i in range(messages):
            message = parsed(subject=f"Outlook chaos {n}/{i}", to=(address,))
            mime = make_mime(
                subject=message.subject,
                sender=message.sender.email if message.sender else "",
                to=[address],
                message_id=message.message_id,
                date=message.date,
                text=message.text,
            )
            graph_id = mailbox.deliver(mime, folder="inbox", received=message.date)
            result = ingest_message(account, message, RefData(key=graph_id, folder="inbox"))
            assert result.conversation_id is not None
            box.key_of[result.conversation_id] = graph_id
            box.state[result.conversation_id] = "inbox"
        boxes.append(box)
    return boxes


@dataclass
class FaultReport:
    provider: str
    changes: int = 0
    calls: int = 0
    throttled: int = 0  # 429 answers (with Retry-After)
    server_errors: int = 0  # 5xx answers
    fault_share: float = 0.0
    early_retries: list[str] = field(default_factory=list)  # asked again before Retry-After
    attempts_histogram: dict[str, int] = field(default_factory=dict)
    over_default_attempts: int = 0  # changes that needed more than the default 8 attempts
    wrong_message_actions: int = 0
    disagreements: list[str] = field(default_factory=list)
    drain_seconds: float = 0.0
    figures: ChangeFigures = field(default_factory=ChangeFigures)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def push_due_in_process(boxes: list[ProviderBox]) -> None:
    """What a worker nudged the moment a change is due would do."""
    now = timezone.now()
    for box in boxes:
        due = ProviderChange.objects.filter(
            account=box.account, status=ChangeStatus.PENDING, next_attempt_at__lte=now
        )
        if due.exists():
            push_account(box.account.pk)


def fault_run(
    providers: dict[str, tuple[list[ProviderBox], HitLog]],
    *,
    changes: int,
    drain: Callable[[], None] | None,
    timeout: float,
    seed: int = 31,
) -> dict[str, FaultReport]:
    """Users act (``changes`` outbox rows per provider); pushes go on until every change
    is done — in this process (``drain`` None) or by whoever ``drain`` waits for."""
    every_box = [box for boxes, _ in providers.values() for box in boxes]
    issued: dict[str, list[int]] = {}
    for name, (boxes, _) in providers.items():
        # One conversation per change: a change of several messages has to get every one
        # of its calls through in one attempt (docs/chaos.md, known limits).
        actor = Actor(boxes, seed=seed, bulk=False)  # type: ignore[arg-type]
        while len(actor.issued.change_ids) < changes:
            actor.act()
        issued[name] = actor.issued.change_ids
    every_id = [i for ids in issued.values() for i in ids]
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        pending = ProviderChange.objects.filter(pk__in=every_id).exclude(
            status__in=[ChangeStatus.DONE, ChangeStatus.FAILED]
        )
        if not pending.exists():
            break
        if drain is None:
            push_due_in_process(every_box)
        else:
            drain()
        time.sleep(0.2)
    drained = round(time.monotonic() - started, 1)
    return {
        name: _report(name, boxes, log, issued[name], drained) for name, (boxes, log) in providers.items()
    }


def _report(name: str, boxes: list[ProviderBox], log: HitLog, ids: list[int], drained: float) -> FaultReport:
    report = FaultReport(name, drain_seconds=drained)
    report.changes = len(ids)
    report.figures = change_figures(ids)
    for attempts in ProviderChange.objects.filter(pk__in=ids).values_list("attempts", flat=True):
        report.attempts_histogram[str(attempts)] = report.attempts_histogram.get(str(attempts), 0) + 1
        report.over_default_attempts += attempts > 8
    report.attempts_histogram = dict(sorted(report.attempts_histogram.items(), key=lambda kv: int(kv[0])))
    report.calls = log.calls()
    report.throttled = log.throttled()
    report.server_errors = log.server_errors()
    report.fault_share = round((report.throttled + report.server_errors) / max(report.calls, 1), 3)
    report.early_retries = log.early_retries()[:10]
    for box in boxes:
        states = dict(Conversation.objects.filter(account=box.account).values_list("pk", "state"))
        for conversation_id, wanted in box.state.items():
            app = {None: "deleted", "archived": "archived"}.get(states.get(conversation_id), "inbox")
            there = box.where(box.key_of[conversation_id])
            if there != wanted or app != wanted:
                if there not in box.visited.get(conversation_id, {"inbox"}):
                    report.wrong_message_actions += 1
                report.disagreements.append(
                    f"{box.provider} {conversation_id}: wanted {wanted}, app {app}, provider {there}"
                )
    return report
