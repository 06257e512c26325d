"""Turn bench/results/latest.json into docs/bench/README.md and PNG plots."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    rows = results.get("inbox_list", [])
    checks: list[tuple[str, str, bool]] = []
    if rows:
        small, large = rows[0], rows[-1]
        ratio = large["inbox_page"]["median_ms"] / small["inbox_page"]["median_ms"]
        checks.append(
            (
                f"inbox page median at {large['size']:,} ≤ 1.5× at {small['size']:,}",
                f"{ratio:.2f}×",
                ratio <= 1.5,
            )
        )
        most = max(r["inbox_page"]["queries"] for r in rows)
        checks.append(("inbox page ≤ 10 SQL queries", str(most), most <= 10))
        if "api_mail_threads" in large:
            api_ratio = large["api_mail_threads"]["median_ms"] / small["api_mail_threads"]["median_ms"]
            checks.append(
                ("API mailThreads median at 100k ≤ 1.5× at 1k", f"{api_ratio:.2f}×", api_ratio <= 1.5)
            )
            api_most = max(r["api_mail_threads"]["queries"] for r in rows)
            checks.append(("API mailThreads ≤ 10 SQL queries", str(api_most), api_most <= 10))
    bulk = results.get("bulk_archive")
    if bulk:
        checks.append(
            (
                "archive 10,000 conversations (service call) ≤ 1 s",
                f"{bulk['archive_service_s']} s",
                bulk["archive_service_s"] <= 1.0,
            )
        )
    return checks


def write_report(results: dict[str, Any], docs: Path) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    lines = ["# Benchmarks", "", f"Run {results.get('started', '')} by `make bench`.", "", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in results.get("machine", {}).items()]
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'yes' if ok else '**no**'} |" for name, value, ok in _targets(results)]
    rows = results.get("inbox_list", [])
    if rows:
        lines += [
            "",
            "## Inbox list (50 rows, 3 messages per conversation, PostgreSQL)",
            "",
            "| conversations | page median ms | page p95 ms | queries | selector median ms "
            "| raw keyset SQL median ms | API median ms | API queries | seed_demo s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            api = r.get("api_mail_threads", {})
            lines.append(
                f"| {r['size']:,} | {r['inbox_page']['median_ms']} | {r['inbox_page']['p95_ms']} | "
                f"{r['inbox_page']['queries']} | {r['folder_page_selector']['median_ms']} | "
                f"{r['raw_keyset_sql']['median_ms']} | {api.get('median_ms', '—')} | {api.get('queries', '—')} | "
                f"{r.get('seed_demo_s', '—')} |"
            )
        lines += ["", "![inbox list](inbox_list.png)"]
        _plot(rows, docs / "inbox_list.png")
    for key, value in results.items():
        if key.startswith("imap_") or key == "bulk_archive":
            lines += ["", f"## {key}", "", "```json", json.dumps(value, indent=2), "```"]
    (docs / "README.md").write_text("\n".join(lines) + "\n")


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    sizes = [r["size"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(sizes, [r["inbox_page"]["median_ms"] for r in rows], marker="o", label="inbox page (median)")
    ax.plot(
        sizes, [r["inbox_page"]["p95_ms"] for r in rows], marker="o", linestyle="--", label="inbox page (p95)"
    )
    ax.plot(sizes, [r["raw_keyset_sql"]["median_ms"] for r in rows], marker="s", label="raw keyset SQL")
    if all("api_mail_threads" in r for r in rows):
        ax.plot(
            sizes, [r["api_mail_threads"]["median_ms"] for r in rows], marker="^", label="API mailThreads"
        )
    ax.set_xscale("log")
    ax.set_xlabel("conversations")
    ax.set_ylabel("ms")
    ax.set_title("Inbox list, 50 rows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    write_report(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
