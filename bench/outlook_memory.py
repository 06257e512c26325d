"""Peak memory of an Outlook pull of ten 40 MB messages (target: peak RSS ≤ 300 MB).

    .venv/bin/python bench/outlook_memory.py [--count 10] [--size-mb 40] [--update-results]

The fake Microsoft Graph (tests/fakes/graph_server.py, TLS on 127.0.0.1) runs in this
process and generates each 40 MB message as it is sent, so it holds none of them; the
figure is the peak RSS of the whole process (Django, msal, requests, the fake and the pull),
an upper bound for the pull itself. A message above the shared body cap
(sync.store.MAX_FETCH_BYTES) is streamed only up to the cap, then imported from its headers
and text. The headline run sends each message without Content-Length (chunked), so the
client reads 25 MB of every message before it knows it is too large; a second run sends
Content-Length (nothing is downloaded), a third messages just under the cap, imported whole.
Each run is its own process, so each peak is its own.

The last line is JSON for bench/run.py; ``--update-results`` also writes it into
bench/results/latest.json under "outlook_memory", keeping every other key.
Database salesinbox_bench_outlook (re-created).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mailbox import setup_django

TARGET_MB = 300


def rss_mb() -> float:
    """Current resident set size (VmRSS) in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def pull_of(ms, count: int, size: int, label: str, *, chunked: bool) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from bench.fake_providers import outlook_account
    from inbox.models import Message
    from sync.pull import pull_account

    mailbox, account = outlook_account(ms, f"Bench {time.time_ns()}")
    address = account.address
    when = datetime.now(UTC) - timedelta(hours=1)
    for i in range(count):
        mailbox.deliver_large(
            size, subject=f"{label} {i}", text=f"Contract {i} attached.", to=[address], date=when
        )
    ms.chunked_values = chunked
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
        "sent_with_content_length": not chunked,
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
    parser.add_argument("--one", choices=["chunked", "with_length", "under_cap"], default="")
    args = parser.parse_args()
    if not args.one:
        runs = {name: _child(name, args) for name in ("chunked", "with_length", "under_cap")}
        caps = {run.pop("body_cap_mb") for run in runs.values()}
        big = runs["chunked"]
        result = {
            "what": f"peak RSS of an Outlook pull of {args.count} messages of {args.size_mb} MB",
            "body_cap_mb": caps.pop(),
            "target_peak_rss_mb": TARGET_MB,
            "peak_rss_mb": big["peak_rss_mb"],
            "meets_target": float(big["peak_rss_mb"]) <= TARGET_MB,  # type: ignore[arg-type]
            "above_cap_streamed": big,
            "above_cap_with_content_length": runs["with_length"],
            "just_under_cap": runs["under_cap"],
        }
        if args.update_results:
            from bench.common import merge_results

            merge_results({"outlook_memory": result})
        print(json.dumps(result))
        return
    setup_django("salesinbox_bench_outlook")
    from bench.fake_providers import fake_microsoft
    from sync.store import MAX_FETCH_BYTES

    with fake_microsoft() as ms:
        if args.one == "under_cap":
            # Just under the cap: each is downloaded and parsed whole.
            row = pull_of(ms, args.count, MAX_FETCH_BYTES - 1_048_576, "Under the cap", chunked=False)
        else:
            row = pull_of(ms, args.count, args.size_mb * 1_048_576, "Big", chunked=args.one == "chunked")
    row["body_cap_mb"] = MAX_FETCH_BYTES // 1_048_576
    print(json.dumps(row))


def _child(name: str, args: argparse.Namespace) -> dict[str, object]:
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--one", name, "--count", str(args.count), "--size-mb", str(args.size_mb)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
