"""Peak memory of a Gmail pull of big messages: ``pull_account`` of a mailbox holding ten
40 MB messages (target: peak RSS ≤ 300 MB), and for comparison ten 24 MB messages (under the
25 MB body cap, so each is fetched whole, alone).

    .venv/bin/python bench/gmail_memory.py [--write]

The fake Gmail server (tests/fakes/gmail_server.py) runs in a process of its own, so the
figure is the app's alone: each scenario is measured in a fresh Python process (ru_maxrss
is a high-water mark for the process's whole life) that starts Django, connects the account
and pulls. The last line is JSON for bench/run.py; ``--write`` also merges it into
bench/results/latest.json under "gmail_memory", keeping every other key.
Database salesinbox_bench_gmail (re-created per scenario).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MB = 1024 * 1024
TARGET_MB = 300
# Above the body cap (the figure the issue asks for), and just under it (fetched whole, alone).
SCENARIOS = {"above_cap": (10, 40 * MB), "just_under_cap": (10, 24 * MB)}
ADDRESS = "bench-big@acme.test"


def serve(count: int, size: int, out: multiprocessing.Queue, stop: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    """The fake Gmail with ``count`` messages of ``size`` bytes, in its own process."""
    import tests.fakes.gmail_server as fake

    server = fake.FakeGmail().start()
    mailbox = server.add_mailbox(ADDRESS)
    factory = fake.MessageFactory()
    for n in range(count):
        raw, _ = factory.make_large(size, to=ADDRESS, subject=f"Big attachment {n}")
        mailbox.deliver(raw)
        del raw
    out.put(
        {
            "endpoint": server.api_endpoint,
            "token_uri": server.token_uri,
            "refresh": mailbox.refresh_token,
            "client": (server.client_id, server.client_secret),
        }
    )
    stop.wait()
    out.put({"calls": [(c.endpoint, c.in_batch, (c.params.get("format") or [""])[0]) for c in server.calls]})
    server.stop()


def measure(scenario: str) -> dict[str, object]:
    """One scenario, in this (fresh) process."""
    count, size = SCENARIOS[scenario]
    ctx = multiprocessing.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(count, size, out, stop), daemon=True)
    server.start()
    info = out.get(timeout=600)
    from bench.fake_providers import gmail_account, use_fake_gmail
    from bench.mailbox import setup_django

    use_fake_gmail(info)
    setup_django("salesinbox_bench_gmail")
    from inbox.models import Message
    from sync.pull import pull_account
    from sync.store import MAX_FETCH_BYTES

    account = gmail_account("Bench Gmail", ADDRESS, info["refresh"])
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    summary = pull_account(account.pk)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stop.set()
    calls = out.get(timeout=60)["calls"]
    server.join(timeout=60)
    imported = Message.objects.filter(account=account).count()
    whole = sum(1 for endpoint, _, fmt in calls if endpoint == "messages.get" and fmt == "raw")
    text_only = sum(1 for endpoint, _, fmt in calls if endpoint == "messages.get" and fmt == "full")
    return {
        "messages": count,
        "message_mb": size // MB,
        "body_cap_mb": MAX_FETCH_BYTES // MB,
        "imported": imported,
        "fetched_whole": whole,
        "fetched_headers_and_text": text_only,
        "batched_raw_gets": sum(
            1 for e, in_batch, fmt in calls if e == "messages.get" and in_batch and fmt == "raw"
        ),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "rss_before_pull_mb": round(before_kb / 1024, 1),
        "target_mb": TARGET_MB,
        "within_target": peak_kb / 1024 <= TARGET_MB,
        "pull_s": round(seconds, 1),
        "summary": summary.line(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--write", action="store_true", help="merge into bench/results/latest.json")
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(measure(args.scenario)))
        return
    results: dict[str, object] = {}
    for scenario in SCENARIOS:
        out = subprocess.run(
            [sys.executable, __file__, "--scenario", scenario], check=True, capture_output=True, text=True
        ).stdout
        results[scenario] = json.loads(out.strip().splitlines()[-1])
        print(f"{scenario}: {results[scenario]}", file=sys.stderr, flush=True)
    above = results["above_cap"]
    summary: dict[str, object] = {
        "what": "peak RSS of a Gmail pull of 10 messages of 40 MB",
        "body_cap_mb": above["body_cap_mb"],  # type: ignore[index]
        "target_peak_rss_mb": TARGET_MB,
        "peak_rss_mb": above["peak_rss_mb"],  # type: ignore[index]
        "meets_target": above["within_target"],  # type: ignore[index]
        **results,
    }
    if args.write:
        from bench.common import merge_results

        merge_results({"gmail_memory": summary})
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
