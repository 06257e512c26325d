"""Hostile MIME: per-message parse + store time through ``sync.store.store_raw_message``.

    .venv/bin/python bench/hostile_mime.py [--runs 3] [--only NAME ...]

Every case of tests/security/hostile_mime.py (deep nesting, thousands of parts, charset
lies, encoded-word bombs, NUL bytes, a 25 MB attachment, …) is stored into a fresh
mailbox; the issue's target is "stored or quarantined with a reason within 2 s" per
message. Prints one row per case (best of ``--runs``, outcome, problems or quarantine
reason) and a JSON summary line (max, median, over-2-s cases) last.

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/si_bench_mime;
created and migrated if missing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/si_bench_mime")
os.environ.setdefault("DEBUG", "0")  # DEBUG would record every query
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "RVpRVGtkN3F6cXh2bUhRd0lVVXp5a1dHbHd2b3V3d1E=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SECURE_COOKIES", "0")
os.environ.setdefault("LOG_LEVEL", "ERROR")

from bench.imap_initial_sync import _ensure_database  # noqa: E402  (also runs django.setup())

_ensure_database()

from django.core.management import call_command  # noqa: E402

from accounts.models import Company, Plan, Role, User  # noqa: E402
from inbox.models import AccountKind, MailAccount, Message, Provider  # noqa: E402
from inbox.types import RefData  # noqa: E402
from sync.models import QuarantinedMessage  # noqa: E402
from sync.store import store_raw_message  # noqa: E402
from tests.security.hostile_mime import CASES  # noqa: E402

TARGET_SECONDS = 2.0


def _fresh_account(run: int) -> MailAccount:
    company = Company.objects.create(name=f"Bench {run} {time.time_ns()}", plan=Plan.PREMIUM)
    user = User.objects.create_user(email=f"rep{time.time_ns()}@acme.test", password=None, company=company,
                                    role=Role.ADMIN)  # fmt: skip
    return MailAccount.objects.create(company=company, kind=AccountKind.PERSONAL, owner=user,
                                      provider=Provider.IMAP, address="rep@acme.test", name="rep")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    names = [n for n in CASES if not args.only or n in args.only]
    best: dict[str, float] = {}
    outcome: dict[str, str] = {}
    detail: dict[str, str] = {}
    for run in range(args.runs):
        account = _fresh_account(run)  # a fresh mailbox per run: nothing is a duplicate
        for uid, name in enumerate(names, start=1):
            raw = CASES[name]()
            ref = RefData(key=f"imap:INBOX:1:{uid}", folder="INBOX", uidvalidity=1, uid=uid)
            started = time.perf_counter()
            result = store_raw_message(account, raw, ref)
            elapsed = time.perf_counter() - started
            best[name] = min(best.get(name, elapsed), elapsed)
            outcome[name] = str(result)
            if result == "quarantined":
                detail[name] = QuarantinedMessage.objects.get(account=account, provider_key=ref.key).reason
            else:
                message = Message.objects.filter(conversation__account=account).order_by("-id").first()
                detail[name] = "; ".join(message.parse_problems if message else [])  # type: ignore[union-attr]
    width = max(len(n) for n in names)
    for name in names:
        print(f"{name:<{width}}  {best[name] * 1000:8.1f} ms  {outcome[name]:<11}  {detail[name][:110]}")
    times = sorted(best.values())
    summary = {
        "bench": "hostile_mime",
        "messages": len(names),
        "stored": sum(1 for n in names if outcome[n] == "created"),
        "quarantined": sum(1 for n in names if outcome[n] == "quarantined"),
        "max_ms": round(times[-1] * 1000, 1),
        "median_ms": round(statistics.median(times) * 1000, 1),
        "slowest": max(best, key=best.__getitem__),
        "over_target": [n for n in names if best[n] > TARGET_SECONDS],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
