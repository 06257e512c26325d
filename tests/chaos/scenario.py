"""The chaos runs themselves, shared by the short variant in the suite (tests/chaos) and the
long ``make chaos`` driver (scripts/chaos.py); only the numbers differ.

Users act through the inbox services exactly as the views do; the changes reach Dovecot
through real Celery workers on our own Redis, while this module kills workers, restarts
Redis and stops Dovecot. At the end every message is looked up in Dovecot by a token in its
body (never by the Message-ID or UID the adapter itself relies on) and compared with what
the users did and what the app says.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from accounts.models import Company, Plan, Role, User
from inbox import services
from inbox.models import (
    AccountKind,
    ChangeStatus,
    ConversationState,
    MailAccount,
    Message,
    Provider,
    ProviderChange,
    Tombstone,
)
from inbox.settings_selectors import recent_changes
from sync.providers.imap import verify_mailbox
from sync.pull import pull_account
from tests.chaos.harness import ROOT, ChaosDovecot, RedisServer, Workers, connected_to
from tests.imap.dovecot import MailUser, make_message

ARCHIVE, UNARCHIVE, TRASH = "archive", "unarchive", "trash"
WHERE = {"inbox": "INBOX", "archived": "Archive", "deleted": "Trash"}


# --- mailboxes at Dovecot and in the app -----------------------------------------------------
@dataclass
class ChaosMailbox:
    account: MailAccount
    user: MailUser
    actor: User
    token_of: dict[str, str] = field(default_factory=dict)  # Message-ID -> token in the body
    conversation_of: dict[str, int] = field(default_factory=dict)  # Message-ID -> conversation
    state: dict[int, str] = field(default_factory=dict)  # conversation -> inbox|archived|deleted
    visited: dict[int, set[str]] = field(default_factory=dict)  # every state users gave it

    def live(self, state: str) -> list[int]:
        return [c for c, s in self.state.items() if s == state]


def company_and_actor(name: str = "Chaos Ltd") -> tuple[Company, User]:
    company = Company.objects.create(name=name, plan=Plan.PREMIUM)
    actor = User.objects.create_user(
        email=f"rep-{uuid.uuid4().hex[:8]}@chaos.test", password=None, company=company, role=Role.REGULAR
    )
    return company, actor


def build_mailboxes(
    dovecot: ChaosDovecot, *, company: Company, actor: User, accounts: int, messages: int, port: int = 0
) -> list[ChaosMailbox]:
    """``accounts`` team mailboxes with both switches on, ``messages`` one-message
    conversations each, delivered to Dovecot and brought in by the real first sync."""
    mailboxes = []
    for n in range(accounts):
        user = dovecot.add_user("chaos")
        token_of: dict[str, str] = {}
        with user.client() as client:
            for i in range(messages):
                token = f"chaos-token-{n}-{i}-{uuid.uuid4().hex[:10]}"
                message_id, raw = make_message(
                    subject=f"Chaos {n}/{i} {token[-10:]}", to=user.address, body=f"Body {token}"
                )
                client.append("INBOX", raw)
                token_of[message_id] = token
        verified = verify_mailbox(
            host="127.0.0.1",
            port=port or dovecot.port,
            security="none",
            login=user.login,
            password=user.password,
        )
        account = MailAccount.objects.create(
            company=company,
            kind=AccountKind.TEAM,
            provider=Provider.IMAP,
            address=user.address,
            name=f"Chaos {n}",
            credentials={"password": user.password},
            config=verified.config,
            archive_in_provider=True,
            delete_in_provider=True,
        )
        account.members.set([actor])
        summary = pull_account(account.pk)
        assert not summary.error, summary.line()
        box = ChaosMailbox(account, user, actor, token_of=token_of)
        for message_id, conversation_id in Message.objects.filter(account=account).values_list(
            "message_id", "conversation_id"
        ):
            box.conversation_of[message_id] = conversation_id
            box.state[conversation_id] = "inbox"
        assert len(box.state) == messages, f"the first sync brought {len(box.state)} of {messages}"
        mailboxes.append(box)
    return mailboxes


# --- acting as users ---------------------------------------------------------------------------
@dataclass
class Issued:
    actions: int = 0
    change_ids: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    without_change: int = 0  # an action whose outbox row was not written (must stay 0)


class Actor:
    """Random but valid user actions: archive and trash from the Inbox, unarchive and trash
    from the Archive; now and then several conversations at once."""

    def __init__(self, mailboxes: list[ChaosMailbox], *, seed: int, bulk: bool = True) -> None:
        self.mailboxes = mailboxes
        self.rng = random.Random(seed)
        self.bulk = bulk
        self.issued = Issued()
        self._turn = 0

    def act(self) -> None:
        box = self.mailboxes[self._turn % len(self.mailboxes)]
        self._turn += 1
        inbox, archived = box.live("inbox"), box.live("archived")
        choices = []
        if inbox:
            choices += [(ARCHIVE, inbox)] * 5 + [(TRASH, inbox)]
        if archived:
            choices += [(UNARCHIVE, archived)] * 5 + [(TRASH, archived)]
        if not choices:
            return
        kind, pool = self.rng.choice(choices)
        size = self.rng.choice([1] * 9 + [min(3, len(pool))]) if self.bulk else 1
        ids = self.rng.sample(pool, size)
        call = {
            ARCHIVE: services.archive_conversations,
            UNARCHIVE: services.unarchive_conversations,
            TRASH: services.delete_conversations,
        }[kind]
        result = call(box.actor, ids)
        new_state = {ARCHIVE: "archived", UNARCHIVE: "inbox", TRASH: "deleted"}[kind]
        for conversation_id in ids:
            box.state[conversation_id] = new_state
            box.visited.setdefault(conversation_id, {"inbox"}).add(new_state)
        self.issued.actions += 1
        self.issued.kinds[kind] += 1
        if result.changes:
            self.issued.change_ids += [c.pk for c in result.changes]
        else:
            self.issued.without_change += 1


# --- waiting and counting ----------------------------------------------------------------------
def wait_drained(
    change_ids: list[int], *, timeout: float, tick: Callable[[], object] = lambda: None
) -> float:
    """Seconds until every change is done (failed ones never are: they count as lost)."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        tick()
        rows = ProviderChange.objects.filter(pk__in=change_ids)
        if not rows.exclude(status__in=[ChangeStatus.DONE, ChangeStatus.FAILED]).exists():
            break
        time.sleep(0.5)
    return time.monotonic() - started


@dataclass
class Agreement:
    messages: int = 0
    agree: int = 0
    wrong_message_actions: int = 0  # at the provider somewhere no user ever sent it
    not_applied: int = 0  # still where it was though the app asked to move it
    copies: int = 0  # a message found more than once at the provider
    app_mismatch: int = 0  # the app's own state differs from what the users did
    examples: list[str] = field(default_factory=list)


def check_agreement(dovecot: ChaosDovecot, mailboxes: list[ChaosMailbox]) -> Agreement:
    """Every message: where the users put it, where the app has it, where Dovecot has it —
    found by body token, so a wrong message can never pass for the right one."""
    result = Agreement()
    for box in mailboxes:
        where_token: dict[str, list[str]] = defaultdict(list)
        with box.user.client() as client:
            for folder in ("INBOX", "Archive", "Trash"):
                client.select_folder(folder, readonly=True)
                uids = client.search("ALL")
                if not uids:
                    continue
                for data in client.fetch(uids, ["BODY.PEEK[TEXT]"]).values():
                    text = data[b"BODY[TEXT]"].decode(errors="replace")
                    for token in _tokens(text):
                        where_token[token].append(folder)
        app_state = _app_state(box)
        for message_id, token in box.token_of.items():
            result.messages += 1
            conversation_id = box.conversation_of[message_id]
            wanted = box.state[conversation_id]
            expected = WHERE[wanted]
            found = where_token.get(token, [])
            problems = []
            if app_state.get(message_id) != wanted:
                result.app_mismatch += 1
                problems.append(f"app has it {app_state.get(message_id)}")
            if len(found) > 1:
                result.copies += 1
                problems.append(f"{len(found)} copies")
            if found and found[0] != expected:
                # Somewhere users never sent it: a wrong message was moved. Somewhere they
                # sent it before: their last change did not arrive (yet).
                visited = {WHERE[s] for s in box.visited.get(conversation_id, {"inbox"})}
                if found[0] not in visited:
                    result.wrong_message_actions += 1
                else:
                    result.not_applied += 1
                problems.append(f"in {found[0]}")
            if not found:
                result.not_applied += 1
                problems.append("nowhere")
            if problems:
                if len(result.examples) < 10:
                    result.examples.append(
                        f"{box.account.address} {message_id} wanted {expected}: {problems}"
                    )
            else:
                result.agree += 1
    return result


def folder_tokens(user: MailUser, folder: str) -> dict[int, str]:
    """UID -> the token in the body, for every message of a folder (read straight from
    Dovecot, not through any relay)."""
    with user.client() as client:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        if not uids:
            return {}
        found = {}
        for uid, data in client.fetch(uids, ["BODY.PEEK[TEXT]"]).items():
            tokens = _tokens(data[b"BODY[TEXT]"].decode(errors="replace"))
            found[uid] = tokens[0] if tokens else ""
        return found


def _tokens(text: str) -> list[str]:
    return [word for word in text.split() if word.startswith("chaos-token-")]


def _app_state(box: ChaosMailbox) -> dict[str, str]:
    state = {}
    for message_id, conversation_state in Message.objects.filter(account=box.account).values_list(
        "message_id", "conversation__state"
    ):
        state[message_id] = "archived" if conversation_state == ConversationState.ARCHIVED else "inbox"
    for message_id in (
        Tombstone.objects.filter(account=box.account)
        .exclude(message_id="")
        .values_list("message_id", flat=True)
    ):
        state.setdefault(message_id, "deleted")
    return state


@dataclass
class ChangeFigures:
    changes: int = 0
    done: int = 0
    failed: int = 0
    not_done: int = 0
    lost: int = 0
    repeated: int = 0  # pushed more than once (a kill or a fault interrupted it): harmless
    already_there: int = 0  # messages a repeated push found already moved
    max_attempts: int = 0
    failures: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)  # not done: why (must stay empty)


def change_figures(change_ids: list[int], issued_without_change: int = 0) -> ChangeFigures:
    figures = ChangeFigures()
    for change in ProviderChange.objects.filter(pk__in=change_ids):
        figures.changes += 1
        figures.max_attempts = max(figures.max_attempts, change.attempts)
        if change.status == ChangeStatus.DONE:
            figures.done += 1
        elif change.status == ChangeStatus.FAILED:
            figures.failed += 1
            if len(figures.failures) < 5:
                figures.failures.append(f"#{change.pk} {change.kind}: {change.last_error}")
        else:
            figures.not_done += 1
            if len(figures.stuck) < 5:
                account = MailAccount.objects.get(pk=change.account_id)
                figures.stuck.append(
                    f"#{change.pk} {change.kind} {change.status} attempts={change.attempts}"
                    f" next={change.next_attempt_at:%H:%M:%S} claimed={change.claimed_at}"
                    f" account={account.status} {account.status_reason[:80]!r}"
                    f" error={change.last_error[:160]!r}"
                )
        if change.attempts > 1:
            figures.repeated += 1
        already = int((change.result or {}).get("already", 0) or 0)
        figures.already_there += already
    figures.lost = (
        figures.failed + figures.not_done + issued_without_change + (len(change_ids) - figures.changes)
    )
    return figures


# --- the crash run --------------------------------------------------------------------------------
@dataclass
class CrashPlan:
    changes: int
    kills: int
    redis_restarts: int
    pace: float = 0.02  # seconds between user actions
    restart_worker_after: float = 2.0  # a supervisor brings a killed worker back
    redis_down: float = 2.0
    drain_timeout: float = 600
    seed: int = 11


@dataclass
class CrashReport:
    changes: int = 0
    actions: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    kills: list[dict[str, object]] = field(default_factory=list)
    redis_restarts: int = 0
    # Workers or beat that exited on their own (and were restarted, as docker-compose does).
    unplanned_exits: list[str] = field(default_factory=list)
    issue_seconds: float = 0.0
    drain_after_last_fault_s: float = 0.0
    figures: ChangeFigures = field(default_factory=ChangeFigures)
    agreement: Agreement = field(default_factory=Agreement)
    commit_and_die: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def running_changes() -> int:
    return ProviderChange.objects.filter(status=ChangeStatus.RUNNING).count()


def crash_run(
    plan: CrashPlan,
    *,
    mailboxes: list[ChaosMailbox],
    dovecot: ChaosDovecot,
    redis_server: RedisServer,
    workers: Workers,
    log: Callable[[str], None] = print,
) -> CrashReport:
    """Users keep acting while workers are SIGKILLed and Redis restarts; then wait until
    the outbox is drained and compare every message with Dovecot."""
    report = CrashReport()
    actor = Actor(mailboxes, seed=plan.seed)
    rng = random.Random(plan.seed + 1)
    # Faults spread over the run: kills at even steps, Redis restarts in between.
    kill_at = {int(plan.changes * (k + 1) / (plan.kills + 1)) for k in range(plan.kills)}
    restart_at = {int(plan.changes * (k + 0.5) / plan.redis_restarts) for k in range(plan.redis_restarts)}
    started = time.monotonic()
    last_fault = started
    step = 0
    while len(actor.issued.change_ids) < plan.changes:
        actor.act()
        step = len(actor.issued.change_ids)
        if workers.supervise():
            last_fault = time.monotonic()
        if kill_at and step >= min(kill_at):
            whole = len(workers.kills) % 2 == 0
            # Aim at a pool process that is talking to Dovecot right now (a kill in
            # mid-push): users keep acting, and the workers are watched every few ms, for up
            # to 5 s; then any live worker.
            busy = workers.busy_pool_process(dovecot.port)
            watch_until = time.monotonic() + 5
            polls = 0
            while busy is None and time.monotonic() < watch_until:
                if polls % 25 == 0:
                    actor.act()
                polls += 1
                time.sleep(0.002)
                busy = workers.busy_pool_process(dovecot.port)
            alive = [w for w in workers.workers if workers.procs[w].alive and workers.pool_pids(w)]
            name = busy[0] if busy else (rng.choice(alive) if alive else None)
            if name is not None:
                kill_at.discard(min(kill_at))
                kill = workers.kill(
                    name,
                    whole=whole,
                    provider_port=dovecot.port,
                    revive_after=plan.restart_worker_after,
                    target=busy[1] if busy else None,
                )
                kill.running_changes = running_changes()  # its claim stays "running" now
                log(
                    f"  kill {len(workers.kills)}: {kill.what} of {name} (pids {kill.pids}), busy={kill.busy}"
                )
                last_fault = time.monotonic()
        if restart_at and step >= min(restart_at):
            restart_at.discard(min(restart_at))
            hard = redis_server.restarts % 2 == 1
            redis_server.stop(hard=hard, hold=True)
            log(f"  redis {'SIGKILL' if hard else 'SIGTERM'}; users keep acting while it is down")
            down_until = time.monotonic() + plan.redis_down
            while time.monotonic() < down_until:
                actor.act()  # the nudge fails; the change is in the outbox anyway
            redis_server.start()
            redis_server.restarts += 1
            last_fault = time.monotonic()
        time.sleep(plan.pace)
    while workers.down_until and min(workers.down_until.values()) < float("inf"):
        time.sleep(0.1)
        if workers.supervise():
            last_fault = time.monotonic()
    report.issue_seconds = time.monotonic() - started
    log(
        f"  {actor.issued.actions} actions, {len(actor.issued.change_ids)} changes"
        f" in {report.issue_seconds:.1f} s"
    )
    drained = wait_drained(actor.issued.change_ids, timeout=plan.drain_timeout, tick=workers.supervise)
    report.drain_after_last_fault_s = round(time.monotonic() - last_fault, 1)
    log(
        f"  drained {drained:.1f} s after the last action,"
        f" {report.drain_after_last_fault_s} s after the last fault"
    )
    report.changes = len(actor.issued.change_ids)
    report.actions = actor.issued.actions
    report.kinds = dict(actor.issued.kinds)
    report.kills = [
        {"worker": k.worker, "what": k.what, "busy": k.busy, "running_changes": k.running_changes}
        for k in workers.kills
    ]
    report.redis_restarts = redis_server.restarts
    report.unplanned_exits = list(workers.unplanned_exits)
    report.figures = change_figures(actor.issued.change_ids, actor.issued.without_change)
    report.agreement = check_agreement(dovecot, mailboxes)
    return report


# --- crash after commit ------------------------------------------------------------------------------
def commit_and_die(actor: User, conversation_ids: list[int], *, env: dict[str, str]) -> int:
    """Archive in a separate process that is SIGKILLed right after its transaction commits,
    before its on-commit nudge can send anything. Returns the process's exit code."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.chaos.commit_and_die",
            str(actor.pk),
            *[str(i) for i in conversation_ids],
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != -signal.SIGKILL:
        raise RuntimeError(
            f"commit_and_die ended with {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result.returncode


# --- provider outage ------------------------------------------------------------------------------
@dataclass
class OutagePlan:
    changes_before: int
    changes_during: int
    down_for: float
    drain_timeout: float = 600
    seed: int = 23


@dataclass
class OutageReport:
    changes: int = 0
    stopped_mid_push: bool = False  # a worker was talking to Dovecot when it stopped
    down_seconds: float = 0.0
    retrying_seen: bool = False  # the account's change list said "retrying" meanwhile
    retrying_example: str = ""
    pending_with_error: int = 0  # most outbox rows pending with attempts > 0 and last_error
    retry_delays: dict[str, list[float]] = field(default_factory=dict)  # attempts -> delays (s)
    max_attempts: int = 0
    drain_after_restart_s: float = 0.0
    figures: ChangeFigures = field(default_factory=ChangeFigures)
    agreement: Agreement = field(default_factory=Agreement)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def outage_run(
    plan: OutagePlan,
    *,
    mailboxes: list[ChaosMailbox],
    dovecot: ChaosDovecot,
    workers: Workers,
    log: Callable[[str], None] = print,
) -> OutageReport:
    """Dovecot stops while changes are being pushed and stays down ``down_for`` seconds."""
    report = OutageReport()
    actor = Actor(mailboxes, seed=plan.seed)
    # Users act until a worker is seen talking to Dovecot, and Dovecot stops right then.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not report.stopped_mid_push:
        if len(actor.issued.change_ids) < 2 * plan.changes_before:
            actor.act()
        else:
            time.sleep(0.005)
        for name in workers.workers:
            if any(connected_to(pid, dovecot.port) for pid in workers.pool_pids(name)):
                report.stopped_mid_push = True
                break
    dovecot.pause()
    stopped = time.monotonic()
    log(f"  Dovecot stopped (mid-push: {report.stopped_mid_push}); users keep acting")
    for _ in range(plan.changes_during):
        actor.act()
        time.sleep(0.05)
    ids = actor.issued.change_ids
    delays: dict[int, dict[int, float]] = defaultdict(dict)
    while time.monotonic() - stopped < plan.down_for:
        workers.supervise()
        rows = ProviderChange.objects.filter(pk__in=ids, status=ChangeStatus.PENDING, attempts__gt=0).exclude(
            last_error=""
        )
        report.pending_with_error = max(report.pending_with_error, rows.count())
        for change in rows:
            delays[change.pk][change.attempts] = round(
                (change.next_attempt_at - change.updated_at).total_seconds(), 2
            )
            report.max_attempts = max(report.max_attempts, change.attempts)
        if not report.retrying_seen:
            for box in mailboxes:
                rows_shown = [r for r in recent_changes(box.account) if r.result == "retrying"]
                if rows_shown:
                    report.retrying_seen = True
                    report.retrying_example = f"{box.account.address}: retrying — {rows_shown[0].why[:160]}"
                    log(f"  {report.retrying_example}")
                    break
        time.sleep(0.5)
    dovecot.resume()
    restarted = time.monotonic()
    report.down_seconds = round(restarted - stopped, 1)
    log(f"  Dovecot back after {report.down_seconds} s")
    wait_drained(ids, timeout=plan.drain_timeout, tick=workers.supervise)
    report.drain_after_restart_s = round(time.monotonic() - restarted, 1)
    by_attempt: dict[int, list[float]] = defaultdict(list)
    for per_change in delays.values():
        for attempts, delay in per_change.items():
            by_attempt[attempts].append(delay)
    report.retry_delays = {str(a): sorted(v)[:: max(1, len(v) // 5)] for a, v in sorted(by_attempt.items())}
    report.changes = len(ids)
    report.figures = change_figures(ids, actor.issued.without_change)
    report.agreement = check_agreement(dovecot, mailboxes)
    return report


def worker_env(*, database_url: str, redis_server: RedisServer, **extra: str) -> dict[str, str]:
    """What the chaos workers and beat read from the environment."""
    return {
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": redis_server.url(0),
        "REDIS_URL": redis_server.url(1),
        **extra,
    }
