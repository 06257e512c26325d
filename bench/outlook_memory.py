"""Peak memory of an Outlook pull of ten 40 MB messages (target: peak RSS ≤ 300 MB).

    .venv/bin/python bench/outlook_memory.py [--count 10] [--size-mb 40] [--update-results]

The fake Microsoft Graph (tests/fakes/graph_server.py, TLS on 127.0.0.1) runs in this
process and generates each 40 MB message as it is sent, so it holds none of them; the
figure is the peak RSS of the whole process (Django, msal, requests, the fake and the pull),
an upper bound for the pull itself. A message above the shared body cap
(sync.store.MAX_FETCH_BYTES) is streamed only up to the cap, then imported from its headers
and text. A second run does the same with messages just under the cap, imported whole.

The last line is JSON for bench/run.py; ``--update-results`` also writes it into
bench/results/latest.json under "outlook_memory", keeping every other key.
Database salesinbox_bench_outlook (re-created).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mailbox import setup_django

TARGET_MB = 300
REDIRECT_URI = "https://inbox.example.test/email-sync/microsoft/callback"


def rss_mb() -> float:
    """Current resident set size (VmRSS) in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def pull_of(ms, count: int, size: int, label: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from accounts.models import Company, Plan, Role, User
    from inbox.models import AccountKind, MailAccount, Message, Provider
    from sync.providers.outlook import auth
    from sync.pull import pull_account

    stamp = time.time_ns()
    address = f"rep-{stamp}@bench.test"
    mailbox = ms.add_mailbox(address)
    flow = auth.start_connect(REDIRECT_URI, login_hint=address)
    connected = auth.finish_connect(flow, ms.sign_in(flow["auth_uri"]))
    company = Company.objects.create(name=f"Bench {stamp}", plan=Plan.PREMIUM)
    rep = User.objects.create_user(address, company=company, role=Role.ADMIN)
    account = MailAccount.objects.create(
        company=company,
        kind=AccountKind.PERSONAL,
        owner=rep,
        provider=Provider.OUTLOOK,
        address=address,
        credentials=connected.credentials,
    )
    when = datetime.now(UTC) - timedelta(hours=1)
    for i in range(count):
        mailbox.deliver_large(
            size, subject=f"{label} {i}", text=f"Contract {i} attached.", to=[address], date=when
        )
    before = rss_mb()
    started = time.perf_counter()
    summary = pull_account(account.pk)
    seconds = time.perf_counter() - started
    if summary.error:
        raise SystemExit(f"pull failed: {summary.error}")
    messages = Message.objects.filter(account=account)
    noted = sum(1 for m in messages if any("too large to import whole" in p for p in m.parse_problems))
    return {
        "messages": count,
        "message_mb": round(size / 1_048_576, 1),
        "imported": messages.count(),
        "imported_as_headers_and_text": noted,
        "rss_before_pull_mb": round(before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "pull_s": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--size-mb", type=int, default=40)
    parser.add_argument("--update-results", action="store_true")
    args = parser.parse_args()
    setup_django("salesinbox_bench_outlook")
    from django.conf import settings

    from sync.providers.outlook import auth
    from sync.store import MAX_FETCH_BYTES
    from tests.fakes.graph_server import FakeMicrosoft
    from tests.fakes.tls import make_local_ca

    ca = make_local_ca(Path(tempfile.mkdtemp(prefix="bench-ca-")))
    ms = FakeMicrosoft(ca).start()
    settings.MS_CLIENT_ID = ms.client_id
    settings.MS_CLIENT_SECRET = ms.client_secret
    settings.MS_AUTHORITY = ms.authority
    settings.GRAPH_API_ENDPOINT = ms.graph_endpoint
    settings.MS_CA_BUNDLE = str(ca.ca_file)
    auth._HTTP_CACHE.clear()
    try:
        big = pull_of(ms, args.count, args.size_mb * 1_048_576, "Big")
        # Just under the cap: each is downloaded and parsed whole.
        under = pull_of(ms, args.count, MAX_FETCH_BYTES - 1_048_576, "Under the cap")
    finally:
        ms.stop()
    result = {
        "what": f"peak RSS of an Outlook pull of {args.count} messages of {args.size_mb} MB",
        "body_cap_mb": MAX_FETCH_BYTES // 1_048_576,
        "target_peak_rss_mb": TARGET_MB,
        "peak_rss_mb": big["peak_rss_mb"],
        "meets_target": float(big["peak_rss_mb"]) <= TARGET_MB,  # type: ignore[arg-type]
        "above_cap": big,
        "just_under_cap": under,
    }
    if args.update_results:
        latest = Path(__file__).resolve().parent / "results" / "latest.json"
        data = json.loads(latest.read_text()) if latest.exists() else {}
        data["outlook_memory"] = result
        latest.write_text(json.dumps(data, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
