"""`make bench`: builds its own data, runs every benchmark, writes bench/results/latest.json
and docs/bench/README.md with PNG plots. Not part of `make test`.

Each figure is measured next to its reference in the same run (raw SQL, raw imapclient, …).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, ROOT, fresh_database, machine, manage, merge_results, settle

SIZES = [1_000, 10_000, 100_000]
DOCS = ROOT / "docs" / "bench"


def run_json(script: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--only":
        # One part alone, e.g. `bench/run.py --only imap_pull_scale`: merged into latest.json.
        # Arguments after the part go to its script (`--only imap_initial_sync --profile x.txt`).
        part = sys.argv[2]
        merge_results({part: run_json(f"{part}.py", *sys.argv[3:]), f"{part}_machine": machine()})
        print(f"merged {part} into {RESULTS}")
        return
    results: dict[str, object] = {
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    inbox: list[dict[str, object]] = []
    url = ""
    for size in SIZES:
        url = fresh_database("salesinbox_bench")
        started = time.perf_counter()
        manage("seed_demo", "--conversations", str(size), "--messages", "3", database_url=url)
        seeded = round(time.perf_counter() - started, 1)
        settle(url)
        row = run_json("inbox_list.py", "--size", str(size), "--database-url", url)
        row["seed_demo_s"] = seeded
        inbox.append(row)
        print(f"inbox list at {size}: {row['inbox_page']}", flush=True)
    results["inbox_list"] = inbox
    # Issue 23 at 100,000 conversations: search per kind of query (with its plans), the folder
    # page's Python time, and the conversation page's queries.
    results["issue23_search"] = run_json(
        "search_scale.py", "--database-url", url, "--plans", str(DOCS / "search-plans" / "latest")
    )
    results["issue23_folder_page"] = run_json("folder_page.py", "--database-url", url)
    # The Inbox page's ceiling: compose's gunicorn command, DEBUG=0, signed-in locust users with no pauses.
    ceiling = run_json("rep_load.py", "--database-url", url, "--ceiling")
    results["issue23_ceiling"] = ceiling
    print(f"inbox ceiling: {ceiling['pages_per_s']} pages/s", flush=True)
    results["bulk_archive"] = run_json("bulk_archive.py", "--database-url", url)
    print(f"bulk archive: {results['bulk_archive']}", flush=True)
    extras = [
        p for pattern in ("imap_*.py", "gmail_*.py", "outlook_*.py") for p in (ROOT / "bench").glob(pattern)
    ]
    for extra in sorted(extras):
        try:
            results[extra.stem] = run_json(extra.name)
            print(f"{extra.stem}: {results[extra.stem]}", flush=True)
        except subprocess.CalledProcessError as exc:
            results[extra.stem] = {"error": (exc.stderr or "")[-2000:]}
    results = merge_results(results)
    from bench.report import write_report

    write_report(results, DOCS)
    print(f"wrote {RESULTS} and {DOCS / 'README.md'}")


if __name__ == "__main__":
    main()
