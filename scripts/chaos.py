"""`make chaos`: the long chaos run (the suite runs a short variant, tests/chaos).

With real processes throughout — its own redis-server (append-only, noeviction), its own
Dovecot, two Celery workers (prefork) and a beat on a fresh PostgreSQL database (si_chaos):

1. crashes: 1,000 archive / unarchive / trash changes across 20 Dovecot mailboxes while a
   worker is SIGKILLed 5 times and Redis is restarted twice (once SIGTERM, once SIGKILL);
   before that, a web process dies between its commit and its nudge (the sweeper's case);
2. provider down: Dovecot stopped for 2 minutes in the middle of a push;
3. provider faults: the fake Gmail and Graph servers answer 429/500 to 30% of calls;
4. adversarial IMAP: tests/chaos/test_adversarial_imap.py, run as it is in the suite.

Prints the figures and writes them to var/chaos/latest.json (docs/chaos.md explains them).
Never touches the shared Redis, nor any database but its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The same harmless defaults the test suite runs with (pyproject.toml, [tool.pytest.ini_options]).
DEFAULTS = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "0",
    "SECRET_KEY": "chaos-run-secret-key-not-for-production-0123456789",
    "FIELD_ENCRYPTION_KEYS": "RVpRVGtkN3F6cXh2bUhRd0lVVXp5a1dHbHd2b3V3d1E=",
    "ALLOWED_HOSTS": "localhost,127.0.0.1",
    "SECURE_COOKIES": "0",
    "SECURE_SSL_REDIRECT": "0",
    "FAST_PASSWORD_HASHING": "1",
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="si_chaos")
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--messages", type=int, default=40, help="one-message conversations per mailbox")
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--redis-restarts", type=int, default=2)
    parser.add_argument("--outage", type=float, default=120.0, help="seconds Dovecot stays down")
    parser.add_argument("--fault-changes", type=int, default=100, help="per provider")
    parser.add_argument("--out", default=str(ROOT / "var" / "chaos" / "latest.json"))
    args = parser.parse_args()

    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    from bench.common import fresh_database

    log(f"fresh database {args.database}")
    database_url = fresh_database(args.database)
    os.environ["DATABASE_URL"] = database_url

    from tests.chaos.harness import ChaosDovecot, RedisServer

    redis_server = RedisServer().start()
    dovecot = ChaosDovecot("standard").start()
    os.environ["CELERY_BROKER_URL"] = redis_server.url(0)
    os.environ["REDIS_URL"] = redis_server.url(1)
    log(
        f"redis on {redis_server.port} (appendonly {redis_server.config('appendonly')}, "
        f"maxmemory-policy {redis_server.config('maxmemory-policy')}), Dovecot on {dovecot.port}"
    )

    import django

    django.setup()
    results: dict[str, object] = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    logs = Path(tempfile.mkdtemp(prefix="si-chaos-logs-"))
    try:
        results.update(imap_phases(args, redis_server, dovecot, database_url, logs))
        results["provider_faults"] = provider_phase(args, redis_server, database_url, logs)
        results["adversarial_imap"] = adversarial_phase()
    finally:
        dovecot.cleanup()
        redis_server.cleanup()
    results["worker_logs"] = str(logs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    ok = print_summary(results)
    log(f"wrote {out}")
    return 0 if ok else 1


def imap_phases(args, redis_server, dovecot, database_url, logs) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from inbox.models import ChangeStatus, ProviderChange
    from tests.chaos.harness import Workers, celery_broker
    from tests.chaos.scenario import (
        CrashPlan,
        OutagePlan,
        build_mailboxes,
        check_agreement,
        commit_and_die,
        company_and_actor,
        crash_run,
        outage_run,
        worker_env,
    )
    from tests.waiting import wait_for

    company, actor = company_and_actor()
    started = time.monotonic()
    mailboxes = build_mailboxes(
        dovecot, company=company, actor=actor, accounts=args.accounts, messages=args.messages
    )
    (lonely,) = build_mailboxes(dovecot, company=company, actor=actor, accounts=1, messages=2)
    log(
        f"{args.accounts} mailboxes x {args.messages} messages delivered and synced in "
        f"{time.monotonic() - started:.0f} s"
    )
    env = worker_env(
        database_url=database_url,
        redis_server=redis_server,
        OUTBOX_LEASE_SECONDS="30",
        OUTBOX_BACKOFF_BASE_SECONDS="2",
        CHAOS_SWEEP_SECONDS="2",
    )
    workers = Workers(env=env, log_dir=logs / "imap")
    out: dict[str, object] = {}
    try:
        with celery_broker(redis_server.url(0)):
            for name in workers.workers:
                workers.start(name, wait=False)
            for name in workers.workers:
                workers.wait_ready(name)

            log("crash after commit: a web process dies between its commit and its nudge (beat is down)")
            conversation_id = next(iter(lonely.state))
            sent_before = redis_server.commands("lpush")
            exit_code = commit_and_die(actor, [conversation_id], env={})
            sent = redis_server.commands("lpush") - sent_before
            lonely.state[conversation_id] = "archived"
            lonely.visited[conversation_id] = {"inbox", "archived"}
            orphan = ProviderChange.objects.get(account=lonely.account)
            workers.start("beat")
            committed = time.monotonic()

            log(
                f"crashes: {args.changes} changes, {args.kills} SIGKILLs,"
                f" {args.redis_restarts} Redis restarts"
            )
            crash = crash_run(
                CrashPlan(
                    changes=args.changes, kills=args.kills, redis_restarts=args.redis_restarts, pace=0.03
                ),
                mailboxes=mailboxes,
                dovecot=dovecot,
                redis_server=redis_server,
                workers=workers,
                log=log,
            )
            wait_for(
                lambda: ProviderChange.objects.get(pk=orphan.pk).status == ChangeStatus.DONE,
                timeout=300,
                interval=0.1,
                what="the orphaned change",
            )
            after = ProviderChange.objects.get(pk=orphan.pk)
            out["crash_after_commit"] = {
                "exit_code": exit_code,
                "celery_messages_sent_by_it": sent,
                "status_before_beat": orphan.status,
                "attempts_before_beat": orphan.attempts,
                "status_after": after.status,
                "attempts_after": after.attempts,
                "pushed_after_s": round((after.done_at - orphan.created_at).total_seconds(), 1),
                "seconds_since_commit_when_checked": round(time.monotonic() - committed, 1),
                "dovecot_agrees": check_agreement(dovecot, [lonely]).agree == 2,
            }
            out["crashes"] = crash.as_dict()

            log(f"provider down: Dovecot stopped for {args.outage:.0f} s mid-push")
            outage = outage_run(
                OutagePlan(changes_before=60, changes_during=40, down_for=args.outage),
                mailboxes=mailboxes,
                dovecot=dovecot,
                workers=workers,
                log=log,
            )
            out["provider_down"] = outage.as_dict()
            out["final_agreement_all_mailboxes"] = check_agreement(dovecot, mailboxes)
            out["unplanned_worker_exits"] = list(workers.unplanned_exits)
    finally:
        workers.stop_all()
    return out


def provider_phase(args, redis_server, database_url, logs) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from sync.providers.outlook import auth as graph_auth
    from tests.chaos.flaky import FaultPlan, FlakyGmail, FlakyMicrosoft
    from tests.chaos.harness import Workers, celery_broker
    from tests.chaos.providers import fault_run, gmail_boxes, outlook_boxes
    from tests.chaos.scenario import company_and_actor, worker_env
    from tests.fakes.tls import make_local_ca

    ca = make_local_ca(Path(tempfile.mkdtemp(prefix="si-chaos-ca-")))
    gmail = FlakyGmail(FaultPlan(rate=0.3, retry_after=2, seed=4)).start()
    ms = FlakyMicrosoft(ca, FaultPlan(rate=0.3, retry_after=2, seed=5)).start()
    provider_env = {
        "GMAIL_API_ENDPOINT": gmail.api_endpoint,
        "GOOGLE_TOKEN_URI": gmail.token_uri,
        "GOOGLE_CLIENT_ID": FlakyGmail.client_id,
        "GOOGLE_CLIENT_SECRET": FlakyGmail.client_secret,
        "MS_CLIENT_ID": ms.client_id,
        "MS_CLIENT_SECRET": ms.client_secret,
        "MS_AUTHORITY": ms.authority,
        "GRAPH_API_ENDPOINT": ms.graph_endpoint,
        "MS_CA_BUNDLE": str(ca.ca_file),
    }
    from django.test import override_settings

    env = worker_env(
        database_url=database_url,
        redis_server=redis_server,
        OUTBOX_LEASE_SECONDS="60",
        OUTBOX_BACKOFF_BASE_SECONDS="2",
        OUTBOX_BACKOFF_MAX_SECONDS="4",
        OUTBOX_MAX_ATTEMPTS="40",
        CHAOS_SWEEP_SECONDS="2",
        **provider_env,
    )
    workers = Workers(env=env, log_dir=logs / "providers")
    accounts = 10
    try:
        with override_settings(**provider_env), celery_broker(redis_server.url(0)):
            graph_auth._HTTP_CACHE.clear()
            company, actor = company_and_actor("Chaos Providers Ltd")
            providers = {
                "gmail": (
                    gmail_boxes(gmail, company=company, actor=actor, accounts=accounts, messages=12),
                    gmail.log,
                ),
                "outlook": (
                    outlook_boxes(ms, company=company, actor=actor, accounts=accounts, messages=12),
                    ms.log,
                ),
            }
            workers.start_all()
            log(f"provider faults: {args.fault_changes} changes per provider, 30% of calls answered 429/500")
            reports = fault_run(providers, changes=args.fault_changes, drain=workers.supervise, timeout=1800)
    finally:
        workers.stop_all()
        gmail.stop()
        ms.stop()
    return {name: report.as_dict() for name, report in reports.items()}


def adversarial_phase() -> dict[str, object]:
    log("adversarial IMAP: tests/chaos/test_adversarial_imap.py")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/chaos/test_adversarial_imap.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    last = (result.stdout.strip().splitlines() or [""])[-1]
    return {"returncode": result.returncode, "summary": last, "tail": result.stdout[-3000:]}


def print_summary(results: dict[str, object]) -> bool:
    crash = results.get("crashes", {})
    down = results.get("provider_down", {})
    died = results.get("crash_after_commit", {})
    agreement = results.get("final_agreement_all_mailboxes")
    faults = results.get("provider_faults", {})
    adversarial = results.get("adversarial_imap", {})
    lost = (
        crash["figures"]["lost"]
        + down["figures"]["lost"]
        + sum(f["figures"]["lost"] for f in faults.values())
    )
    wrong = (
        crash["agreement"]["wrong_message_actions"]
        + down["agreement"]["wrong_message_actions"]
        + sum(f["wrong_message_actions"] for f in faults.values())
    )
    rows = [
        ("changes (crash run)", crash["changes"]),
        ("worker SIGKILLs", f"{len(crash['kills'])} ({', '.join(k['what'] for k in crash['kills'])})"),
        ("Redis restarts", crash["redis_restarts"]),
        ("workers that exited on their own (restarted)", len(results.get("unplanned_worker_exits", []))),
        ("drain after the last crash fault (s)", crash["drain_after_last_fault_s"]),
        ("orphaned commit pushed by the sweeper", f"{died['status_after']} after {died['pushed_after_s']} s"),
        ("Dovecot down (s), stopped mid-push", f"{down['down_seconds']}, {down['stopped_mid_push']}"),
        ("account showed 'retrying' meanwhile", down["retrying_seen"]),
        ("drain after Dovecot came back (s)", down["drain_after_restart_s"]),
        ("changes (outage run)", down["changes"]),
        *[
            (
                f"{name}: changes / calls / faults",
                f"{f['changes']} / {f['calls']} / {f['throttled']}x429 + {f['server_errors']}x5xx",
            )
            for name, f in faults.items()
        ],
        *[(f"{name}: pushed before Retry-After", len(f["early_retries"])) for name, f in faults.items()],
        *[
            (f"{name}: changes needing > 8 attempts", f["over_default_attempts"])
            for name, f in faults.items()
        ],
        ("messages where app and Dovecot agree", f"{agreement.agree} of {agreement.messages}"),
        ("adversarial IMAP tests", adversarial.get("summary")),
        ("CHANGES LOST", lost),
        ("WRONG-MESSAGE ACTIONS", wrong),
    ]
    print()
    print("| figure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return (
        lost == 0
        and wrong == 0
        and agreement.agree == agreement.messages
        and adversarial.get("returncode") == 0
    )


if __name__ == "__main__":
    raise SystemExit(main())
