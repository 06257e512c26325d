"""Search at scale on PostgreSQL: the selector and the whole HTML page for one-word,
two-word, person-name and address queries, with the plan of the search's main query.
Prints one JSON object; ``--plans DIR`` also writes each query's EXPLAIN (ANALYZE, BUFFERS).
Besides wall time, each request's CPU: this process's (the view, the ORM, the template) plus
the PostgreSQL backend's own time on a CPU (``/proc/<pid>/schedstat``), which waiting for a
CPU on a busy box does not inflate as much as it does wall time.

    python bench/search_scale.py --database-url postgres://.../bench --plans docs/bench/search-plans/after

The database is one ``seed_demo --conversations 100000`` (default 1-3 messages each, about
225,000 messages) made by ``bench/run.py``; alice sees her own and the team mailbox.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# (kind, query): the kinds the issue names, two of each, plus a word nobody wrote.
QUERIES = [
    ("one-word", "pricing"),
    ("one-word", "questionnaire"),
    ("two-word", "contract renewal"),
    ("two-word", "pilot sso"),
    ("person-name", "Maya Silva"),
    ("person-name", "Anna Berg"),
    ("address", "maya.silva92@acme.test"),
    ("address", "northwind.test"),
    ("no-hit", "zyxwvut"),
]


def on_cpu_ms(pid: int) -> float:
    """Time the process has run on a CPU (Linux schedstat, nanoseconds), in ms."""
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[0]) / 1e6


def cpu_timed(
    fn: Callable[[], object], backend: Callable[[], int], *, runs: int, warmup: int = 3
) -> dict[str, float]:
    """CPU per call: this process's plus the database backend's (same machine, same connection)."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    while len(samples) < runs:
        pid = backend()
        started, db_started = time.process_time(), on_cpu_ms(pid)
        fn()
        if backend() != pid:
            continue  # a request closed the connection (CONN_MAX_AGE) and opened another: measure again
        samples.append((time.process_time() - started) * 1000 + on_cpu_ms(pid) - db_started)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 2),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--plans", default="", help="directory for the EXPLAIN output, one file per query")
    args = parser.parse_args()
    from bench.common import setup_django_on

    setup_django_on(args.database_url)
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from bench.common import timed
    from inbox import selectors

    alice = User.objects.get(email="alice@demo.test")

    def backend() -> int:
        # The persistent connection the selector and the test client's requests share.
        connection.ensure_connection()
        return connection.connection.info.backend_pid  # type: ignore[no-any-return]

    client = Client()
    client.force_login(alice)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    plans = Path(args.plans) if args.plans else None
    if plans:
        plans.mkdir(parents=True, exist_ok=True)
    rows = []
    for kind, query in QUERIES:

        def selector(query: str = query) -> None:
            selectors.search_page(alice, "inbox", query)

        def page(query: str = query) -> None:
            response = client.get("/inbox/", {"q": query})
            assert response.status_code == 200, (response.status_code, response.content[:300])

        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            found = selectors.search_page(alice, "inbox", query)
        # Read now: every request of the page timing below resets the connection's query log.
        sqls = [q["sql"] for q in captured.captured_queries]
        row: dict[str, object] = {
            "kind": kind,
            "query": query,
            "rows": len(found.conversations),
            "queries": len(sqls),
            "selector": timed(selector, runs=args.runs),
            "page": timed(page, runs=args.runs),
            "selector_cpu": cpu_timed(selector, backend, runs=args.runs),
            "page_cpu": cpu_timed(page, backend, runs=args.runs),
        }
        # The search's main query is the one that reads the folder index with the terms.
        # (The first query with the most LIKEs: on PostgreSQL the walk.) The index query that
        # follows it for rare terms (after the set_config of its transaction) is shown after it.
        searching = [q for q in sqls if "LIKE" in q and not q.startswith("EXPLAIN")] or sqls
        main_sql = max(searching, key=lambda q: q.count("LIKE"))
        settings = [q for q in sqls if "set_config" in q]
        index_sql = (
            next((q for q in sqls[sqls.index(settings[0]) :] if q in searching and q != main_sql), None)
            if settings
            else None
        )

        def explain(sql: str, settings: list[str] = settings) -> str:
            with connection.cursor() as cursor:
                if settings:
                    cursor.execute("BEGIN")
                    cursor.execute(settings[0])
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = "\n".join(r[0] for r in cursor.fetchall())
                if settings:
                    cursor.execute("COMMIT")
            return plan

        def shape(plan: str, prefix: str) -> dict[str, object]:
            return {
                f"{prefix}seq_scans": sorted(
                    {line.split(" on ")[1].split()[0] for line in plan.splitlines() if "Seq Scan on" in line}
                ),
                f"{prefix}hashed_subplans": plan.count("hashed SubPlan"),
                f"{prefix}parallel": "Gather" in plan,
                f"{prefix}execution_ms": float(plan.rsplit("Execution Time:", 1)[1].split()[0]),
                f"{prefix}planning_ms": float(plan.rsplit("Planning Time:", 1)[1].split()[0]),
                # The top node's buffers: the whole query's (the plan's first Buffers line).
                f"{prefix}shared_hit": int(plan.split("shared hit=", 1)[1].split()[0])
                if "shared hit=" in plan
                else 0,
            }

        plan = explain(main_sql)
        row.update(shape(plan, "plan_"))
        text = f"-- search_page(alice, 'inbox', {query!r})\n{main_sql}\n\n{plan}\n"
        if index_sql:
            index_plan = explain(index_sql)
            row.update(shape(index_plan, "index_plan_"))
            text += "\n-- the index query for the mailboxes with fewer matches than a page in the walk\n"
            text += f"{index_sql}\n\n{index_plan}\n"
        if plans:
            name = f"{kind}-{query}".replace(" ", "_").replace("@", "_at_").replace("/", "_")
            (plans / f"{name}.txt").write_text(text)
        rows.append(row)
        print(
            f"{kind:12} {query!r:28} sel p95 {row['selector']['p95_ms']:7} page p95 {row['page']['p95_ms']:7}"  # type: ignore[index]
            f" cpu p95 sel {row['selector_cpu']['p95_ms']:7} page {row['page_cpu']['p95_ms']:7}"  # type: ignore[index]
            f" seq={row['plan_seq_scans']} hashed={row['plan_hashed_subplans']}"
            f" ms={row['plan_execution_ms']} hit={row['plan_shared_hit']}"
            f" index query: seq={row.get('index_plan_seq_scans')} ms={row.get('index_plan_execution_ms')}"
            f" hit={row.get('index_plan_shared_hit')}",
            file=sys.stderr,
            flush=True,
        )
    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[:3]
    print(json.dumps({"queries": rows, "load_average": [float(x) for x in load]}))


if __name__ == "__main__":
    main()
