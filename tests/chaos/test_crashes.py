"""Short chaos run (the long one is `make chaos`): real Celery workers push archive,
unarchive and trash changes of several Dovecot mailboxes while workers are SIGKILLed,
Redis restarts, a web process dies between its commit and its nudge, and Dovecot stops
in the middle of a push. Nothing may be lost, nothing moved that should not be."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from inbox.models import ChangeStatus, ProviderChange
from tests.chaos.harness import ChaosDovecot, RedisServer, Workers, celery_broker
from tests.chaos.scenario import (
    Agreement,
    CrashPlan,
    CrashReport,
    OutagePlan,
    OutageReport,
    build_mailboxes,
    check_agreement,
    commit_and_die,
    company_and_actor,
    crash_run,
    outage_run,
    worker_env,
)
from tests.waiting import wait_for
from tests.worker import test_database_url as worker_database_url

# django_db makes pytest-django create the test database; the run itself commits (workers
# only see committed rows) in a module fixture, and each test asserts on its report.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.dovecot]


@dataclass
class CommitAndDie:
    exit_code: int
    messages_sent_meanwhile: int  # Celery messages that reached Redis while it ran
    before_beat: ProviderChange  # the change as beat found it
    after: ProviderChange
    agreement: Agreement


@dataclass
class Run:
    crash: CrashReport
    outage: OutageReport
    commit_and_die: CommitAndDie
    dovecot: ChaosDovecot
    workers: Workers


@pytest.fixture(scope="module")
def run(
    chaos_db: None,
    chaos_redis: RedisServer,
    chaos_dovecot: ChaosDovecot,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    company, actor = company_and_actor()
    mailboxes = build_mailboxes(chaos_dovecot, company=company, actor=actor, accounts=4, messages=12)
    (lonely,) = build_mailboxes(chaos_dovecot, company=company, actor=actor, accounts=1, messages=2)
    env = worker_env(
        database_url=worker_database_url(),
        redis_server=chaos_redis,
        OUTBOX_LEASE_SECONDS="6",
        OUTBOX_BACKOFF_BASE_SECONDS="1",
        CHAOS_SWEEP_SECONDS="1",
    )
    workers = Workers(env=env, log_dir=Path(tmp_path_factory.mktemp("chaos-logs")))
    try:
        with celery_broker(chaos_redis.url(0)):
            for name in workers.workers:
                workers.start(name, wait=False)
            for name in workers.workers:
                workers.wait_ready(name)

            # A web process commits an archive and dies before its nudge is sent; beat is down.
            conversation_id = next(iter(lonely.state))
            sent_before = chaos_redis.commands("lpush")
            exit_code = commit_and_die(actor, [conversation_id], env=env)
            sent = chaos_redis.commands("lpush") - sent_before
            lonely.state[conversation_id] = "archived"
            before_beat = ProviderChange.objects.get(account=lonely.account)
            workers.start("beat")

            crash = crash_run(
                CrashPlan(changes=40, kills=2, redis_restarts=1, pace=0.03, drain_timeout=150),
                mailboxes=mailboxes,
                dovecot=chaos_dovecot,
                redis_server=chaos_redis,
                workers=workers,
            )
            wait_for(
                lambda: ProviderChange.objects.get(pk=before_beat.pk).status == ChangeStatus.DONE,
                timeout=120,
                interval=0.1,
                what="the sweeper to push the orphaned change",
            )
            after = ProviderChange.objects.get(pk=before_beat.pk)
            outage = outage_run(
                OutagePlan(changes_before=16, changes_during=6, down_for=8, drain_timeout=150),
                mailboxes=mailboxes,
                dovecot=chaos_dovecot,
                workers=workers,
            )
        yield Run(
            crash,
            outage,
            CommitAndDie(exit_code, sent, before_beat, after, check_agreement(chaos_dovecot, [lonely])),
            chaos_dovecot,
            workers,
        )
    finally:
        workers.stop_all()


def test_no_change_is_lost_when_workers_are_killed_and_redis_restarts(run: Run):
    crash = run.crash
    assert crash.changes >= 40 and len(crash.kills) == 2 and crash.redis_restarts == 1
    assert {k["what"] for k in crash.kills} == {"whole worker", "pool process"}
    assert crash.figures.changes == crash.changes
    assert crash.figures.lost == 0, crash.figures.failures
    assert crash.figures.done == crash.changes
    # Not asserted, reported: a worker may exit on its own when Redis goes away (kombu), and
    # is then restarted like any killed one — the outbox does not depend on it.
    print("unplanned exits:", crash.unplanned_exits)


def test_app_and_dovecot_agree_on_every_message_after_kills_and_restarts(run: Run):
    agreement = run.crash.agreement
    assert agreement.messages == 48
    assert agreement.agree == agreement.messages, agreement.examples
    # A change pushed twice (its worker died after the MOVE) found the message already moved.
    assert agreement.wrong_message_actions == 0 and agreement.copies == 0


def test_change_committed_by_a_process_that_died_before_its_nudge_is_pushed_by_the_sweeper(run: Run):
    died = run.commit_and_die
    assert died.exit_code == -9
    assert died.messages_sent_meanwhile == 0  # no Celery message ever left the dead process
    assert died.before_beat.status == ChangeStatus.PENDING and died.before_beat.attempts == 0
    # Done — possibly after more than one attempt: the kills of the crash run go on meanwhile.
    assert died.after.status == ChangeStatus.DONE and died.after.attempts >= 1
    assert died.agreement.agree == 2, died.agreement.examples  # archived at Dovecot too


def test_account_shows_retrying_while_dovecot_is_down_then_every_change_is_done(run: Run):
    outage = run.outage
    assert outage.retrying_seen, "no account showed a retrying change while Dovecot was down"
    assert "IMAP" in outage.retrying_example or "reach" in outage.retrying_example
    assert outage.pending_with_error > 0
    # Backoff: every retry waits (next attempt after the failure), never at once.
    assert all(delay > 0 for delays in outage.retry_delays.values() for delay in delays)
    assert outage.figures.lost == 0, outage.figures.failures
    assert outage.agreement.agree == outage.agreement.messages, outage.agreement.examples
    assert outage.agreement.wrong_message_actions == 0


def test_chaos_broker_runs_append_only_and_never_evicts(chaos_redis: RedisServer):
    # The production settings (docker-compose.yml, docs/chaos.md) that the runs rely on.
    assert chaos_redis.config("appendonly") == "yes"
    assert chaos_redis.config("maxmemory-policy") == "noeviction"
