"""Gmail and Outlook first sync against the fake servers (issue 21, target 6): messages/s
for ``--messages`` messages, the API calls the pull made, and how close that pace comes to
the quota the real service allows.

    .venv/bin/python bench/gmail_outlook_initial_sync.py [--messages 10000] [--write]

* Gmail: 15,000 quota units per user per minute; ``messages.get`` and ``messages.list`` cost
  5 units, ``history.list`` 2, ``getProfile`` 1 (Google's published costs; each request inside
  a batch counts on its own).
* Microsoft Graph: 10,000 requests per 10 minutes per mailbox (each request inside a
  ``$batch`` counts on its own).

The fakes answer at once, so the rate here is the app's own ceiling; "quota share" is the
pace of this run in the provider's unit (units per minute, requests per 10 minutes) divided
by the quota: above 100% the real service would throttle (429) and the pull would back off.
"quota_allows_msg_per_s" is the rate the quota alone allows at this run's cost per message.
The Gmail client paces itself under the quota (``sync.providers.gmail.client``
QUOTA_UNITS_PER_SECOND); the bench switches that off unless ``--paced``. Outlook's pulls run
back to back here; in production each imports at most MAX_IMPORTS_PER_PULL, SYNC_INTERVAL apart.
Each provider runs in a process of its own (its own database salesinbox_bench_<provider>_rate).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GMAIL_UNITS = {"messages.get": 5, "messages.list": 5, "history.list": 2, "profile": 1, "threads.get": 10}
GMAIL_QUOTA_PER_MINUTE = 15_000
GRAPH_QUOTA_PER_10_MIN = 10_000
_PULL_WRAPPER: list = []  # type: ignore[type-arg]  # a cProfile.Profile with --profile


def _pull(account_id: int):  # type: ignore[no-untyped-def]
    from sync.pull import pull_account

    if not _PULL_WRAPPER:
        return pull_account(account_id)
    return _PULL_WRAPPER[0].runcall(pull_account, account_id)


def _bodies(count: int) -> list[tuple[str, str, datetime]]:
    """(subject, body, date) of a plain sales mailbox, newest last, one message every 7 minutes."""
    now = datetime.now(UTC)
    return [
        (
            f"Quote request {n}",
            f"Hello, about the {n % 40} seats we discussed. " * 8,
            now - timedelta(minutes=7 * (count - n)),
        )
        for n in range(count)
    ]


def _serve_gmail(count: int, address: str, out: multiprocessing.Queue, stop: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    import tests.fakes.gmail_server as fake

    fake.PORT_RANGE = range(15200, 15300)  # this bench's ports; the test suite uses others
    server = fake.FakeGmail().start()
    mailbox = server.add_mailbox(address)
    factory = fake.MessageFactory()
    for subject, body, when in _bodies(count):
        raw, _ = factory.make(subject=subject, body=body, to=address, when=when)
        mailbox.deliver(raw)
    out.put(
        {
            "endpoint": server.api_endpoint,
            "token_uri": server.token_uri,
            "refresh": mailbox.refresh_token,
            "client": (server.client_id, server.client_secret),
        }
    )
    stop.wait()
    out.put({"calls": [(c.endpoint, c.in_batch) for c in server.calls]})
    server.stop()


def gmail(count: int, *, paced: bool = False) -> dict[str, object]:
    address = "bench-rate@acme.test"
    ctx = multiprocessing.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve_gmail, args=(count, address, out, stop), daemon=True)
    server.start()
    info = out.get(timeout=1800)
    from bench.fake_providers import gmail_account, use_fake_gmail
    from bench.mailbox import setup_django

    use_fake_gmail(info)
    setup_django("salesinbox_bench_gmail_rate")
    from inbox.models import Message
    from sync.providers.gmail import client as gmail_client

    if not paced:
        # The app's own ceiling: the client's pacing under Gmail's quota is switched off.
        gmail_client.QUOTA_UNITS_PER_SECOND = 0.0
    account = gmail_account("Bench Gmail rate", address, info["refresh"], sync_past_days=3650)
    started = time.perf_counter()
    summary = _pull(account.pk)
    seconds = time.perf_counter() - started
    stop.set()
    calls = out.get(timeout=120)["calls"]
    server.join(timeout=60)
    stored = Message.objects.filter(account=account).count()
    kinds = Counter(endpoint for endpoint, _in_batch in calls if endpoint not in ("batch", "token"))
    units = sum(GMAIL_UNITS.get(endpoint, 5) * n for endpoint, n in kinds.items())
    per_minute = units / seconds * 60
    return {
        "messages": count,
        "stored": stored,
        "pull_s": round(seconds, 1),
        "msg_per_s": round(stored / seconds),
        "api_calls": sum(kinds.values()),
        "http_requests": sum(1 for _e, in_batch in calls if not in_batch),
        "call_kinds": dict(kinds),
        "quota_units": units,
        "quota": f"{GMAIL_QUOTA_PER_MINUTE:,} units/user/minute",
        "quota_share": f"{per_minute / GMAIL_QUOTA_PER_MINUTE:.0%} (at {per_minute:,.0f} units/minute)",
        "units_per_message": round(units / max(stored, 1), 2),
        "quota_allows_msg_per_s": round(GMAIL_QUOTA_PER_MINUTE / 60 / (units / max(stored, 1)), 1),
        "paced": paced,
        "note": "units: messages.get/list 5, history.list 2, getProfile 1; each batch part counts",
        "summary": summary.line(),
        "load_average": round(os.getloadavg()[0], 1),
    }


def outlook(count: int) -> dict[str, object]:
    from bench.fake_providers import fake_microsoft, outlook_account
    from bench.mailbox import setup_django

    setup_django("salesinbox_bench_outlook_rate")
    from inbox.models import Message
    from sync.providers.outlook.pull import MAX_IMPORTS_PER_PULL
    from tests.fakes.graph_server import make_mime

    with fake_microsoft() as ms:
        mailbox, account = outlook_account(ms, f"Bench Outlook rate {time.time_ns()}", sync_past_days=3650)
        for subject, body, when in _bodies(count):
            mailbox.deliver(
                make_mime(subject=subject, text=body, to=[account.address], date=when), received=when
            )
        ms.calls.clear()
        # A pull imports at most MAX_IMPORTS_PER_PULL messages; the rest wait in the folder's
        # backlog for the next pulls (SYNC_INTERVAL apart in production). Here the pulls run
        # back to back until the first sync is finished: the rate is the app's own ceiling.
        seconds, pulls = 0.0, 0
        while True:
            started = time.perf_counter()
            summary = _pull(account.pk)
            seconds += time.perf_counter() - started
            pulls += 1
            account.refresh_from_db()
            if summary.error or account.initial_sync_finished_at is not None or pulls >= count:
                break
        stored = Message.objects.filter(account=account).count()
        calls = list(ms.calls)
    requests = [c for c in calls if c.op != "batch"]  # each $batch part counts on its own
    per_10_min = len(requests) / seconds * 600
    return {
        "messages": count,
        "stored": stored,
        "pull_s": round(seconds, 1),
        "msg_per_s": round(stored / seconds),
        "api_calls": len(requests),
        "http_requests": sum(1 for c in calls if not c.in_batch),
        "call_kinds": dict(Counter(c.op for c in requests)),
        "quota_units": len(requests),
        "quota": f"{GRAPH_QUOTA_PER_10_MIN:,} requests/10 min per mailbox",
        "quota_share": f"{per_10_min / GRAPH_QUOTA_PER_10_MIN:.0%} (at {per_10_min:,.0f} requests/10 min)",
        "requests_per_message": round(len(requests) / max(stored, 1), 2),
        "quota_allows_msg_per_s": round(GRAPH_QUOTA_PER_10_MIN / 600 / (len(requests) / max(stored, 1)), 1),
        "note": "every request inside a $batch counts toward the mailbox limit",
        "pulls": pulls,
        "max_imports_per_pull": MAX_IMPORTS_PER_PULL,
        "summary": summary.line(),
        "load_average": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--one", choices=["gmail", "outlook"], default="")
    parser.add_argument(
        "--paced",
        action="store_true",
        help="Gmail: keep the client's pacing under the quota (off by default)",
    )
    parser.add_argument("--profile", default="", help="with --one: cProfile the pulls into this file")
    parser.add_argument("--write", action="store_true", help="merge into bench/results/latest.json")
    args = parser.parse_args()
    if args.one and args.profile:
        import cProfile

        profiler = cProfile.Profile()
        _PULL_WRAPPER.append(profiler)
    if args.one:
        result = gmail(args.messages, paced=args.paced) if args.one == "gmail" else outlook(args.messages)
        print(json.dumps(result))
        if _PULL_WRAPPER:
            _PULL_WRAPPER[0].dump_stats(args.profile)
        return
    results: dict[str, object] = {}
    for name in ("gmail", "outlook"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                name,
                "--messages",
                str(args.messages),
                *(["--paced"] if args.paced else []),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
        print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    if args.write:
        from bench.common import merge_results

        merge_results({"gmail_outlook_initial_sync": results})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
