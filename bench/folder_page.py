"""The folder page split into time in SQL and time in Python (templates are cached by
Django's loader in DEBUG too; DEBUG=1 spares the bench a collectstatic manifest), and the
conversation page's queries. Prints one JSON object.

    python bench/folder_page.py --database-url postgres://.../bench

Python time = the whole request through the test client minus the time spent in the
database driver (an execute wrapper sums it), so it is the view, the template and Django.
The Inbox page is measured twice: as served (list rows come from the per-process cache of
rendered rows after the first request) and with that cache emptied before every request.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    from bench.common import setup_django_on

    setup_django_on(args.database_url)
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from inbox.models import Conversation
    from web.rendering import forget_rendered_rows

    alice = User.objects.get(email="alice@demo.test")
    client = Client()
    client.force_login(alice)
    sql_ms = [0.0]
    queries = [0]

    def timer(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_ms[0] += (time.perf_counter() - started) * 1000
            queries[0] += 1

    def measure(path: str, *, cold_rows: bool = False) -> dict[str, object]:
        totals, sqls, pythons, cpus, sizes, counts = [], [], [], [], [], []
        for i in range(args.runs + 3):
            sql_ms[0], queries[0] = 0.0, 0
            if cold_rows:
                forget_rendered_rows()
            with connection.execute_wrapper(timer):
                started, cpu_started = time.perf_counter(), time.thread_time()
                response = client.get(path)
                total = (time.perf_counter() - started) * 1000
                cpu = (time.thread_time() - cpu_started) * 1000
            assert response.status_code == 200, response.status_code
            if i < 3:
                continue  # warm-up
            totals.append(total)
            sqls.append(sql_ms[0])
            pythons.append(total - sql_ms[0])
            cpus.append(cpu)
            sizes.append(len(response.content))
            counts.append(queries[0])

        def p95(xs: list[float]) -> float:
            return round(sorted(xs)[min(len(xs) - 1, int(len(xs) * 0.95))], 2)

        return {
            "total_median_ms": round(statistics.median(totals), 2),
            "sql_median_ms": round(statistics.median(sqls), 2),
            "python_median_ms": round(statistics.median(pythons), 2),
            "python_p95_ms": p95(pythons),
            # CPU time of this thread (Python, plus the driver's own work around each query):
            # less sensitive than wall time to other processes on a shared box.
            "cpu_median_ms": round(statistics.median(cpus), 2),
            "html_bytes": sizes[-1],
            "queries": counts[-1],
        }

    opened = (
        Conversation.objects.filter(account__owner=alice, is_read=True).order_by("-last_message_at").first()
    )
    assert opened is not None
    result: dict[str, object] = {
        "inbox_page": measure("/inbox/"),
        # The same page with the per-process cache of rendered rows emptied before each
        # request: every row rendered again (what a page of rows never seen costs).
        "inbox_page_rows_not_cached": measure("/inbox/", cold_rows=True),
        "conversation_page_read": measure(f"/inbox/c/{opened.pk}/"),
    }
    with open("/proc/loadavg") as loadavg:
        result["load_average"] = [float(x) for x in loadavg.read().split()[:3]]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
