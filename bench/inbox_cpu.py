"""Where the CPU of one Inbox page goes, as gunicorn serves it (issue 23 target 2).

The production settings (DEBUG=0, the real middleware stack, the hashed static manifest) and
the WSGI application gunicorn runs, called in this process with a signed-in user's session
cookie: no test client. Per page it reports

- this process's CPU (``time.process_time``: Python, Django, the driver),
- the CPU of the PostgreSQL backend serving this process (``/proc/<pid>/stat`` of
  ``pg_backend_pid()``: parsing, planning and executing every statement),
- the SQL wall time and the count of each statement (an execute wrapper),

and optionally a cProfile of many pages (``--profile``: the top functions, and the time
spent inside each middleware's own code and each package), and each statement's
``EXPLAIN (ANALYZE, BUFFERS)`` (``--explain``). It signs in by writing a session (and
``last_login``): run it on a copy of the bench database, never on the shared one.

    python bench/inbox_cpu.py --database-url postgres://.../salesinbox_x_big --pages 300 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import production_settings_env  # noqa: E402


def _production_env(database_url: str, redis_url: str) -> None:
    os.environ.update(
        {
            **production_settings_env(database_url),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "LOG_LEVEL": "WARNING",
            # One backend for the whole run, so its CPU counter covers every page.
            "DB_CONN_MAX_AGE": "3600",
        }
    )
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=os.environ,
        check=True,
    )


def _backend_cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _session_cookie(email: str) -> str:
    """A signed-in session for ``email``, as a successful sign-in leaves it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.base import SessionBase
    from django.utils.module_loading import import_string

    from accounts.models import User

    user = User.objects.get(email=email)
    store: SessionBase = import_string(settings.SESSION_ENGINE + ".SessionStore")()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    assert store.session_key
    return store.session_key


def _environ(path: str, cookie: str) -> dict[str, Any]:
    from django.conf import settings

    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={cookie}",
        "HTTP_ACCEPT": "text/html",
        "HTTP_USER_AGENT": "bench",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def _normalise(sql: str) -> str:
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+\b", "?", sql)
    return sql


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--email", default="alice@demo.test")
    parser.add_argument("--path", default="/inbox/")
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile the pages (a second pass)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) each statement")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--save-html", help="write the last page's HTML here")
    parser.add_argument("--pyinstrument", help="write a sampled call tree of the pages here (text)")
    args = parser.parse_args()
    _production_env(args.database_url, args.redis_url)
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    application = get_wsgi_application()
    cookie = _session_cookie(args.email)
    status: list[str] = []

    def start_response(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(s)

    def page() -> bytes:
        status.clear()
        body = b"".join(application(_environ(args.path, cookie), start_response))
        assert status[0].startswith("200"), (status, body[:300])
        return body

    for _ in range(20):  # warm-up: imports, templates, the row cache, the connection
        body = page()
    assert b'<li id="conv-' in body, body[:500]
    if args.save_html:
        Path(args.save_html).write_bytes(body)
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    statements: dict[str, list[float]] = defaultdict(list)
    raw_sql: dict[str, tuple[str, Any]] = {}
    per_page_sql_ms: list[float] = []
    per_page_queries: list[int] = []

    def timer(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = (time.perf_counter() - started) * 1000
            key = _normalise(sql)
            statements[key].append(took)
            raw_sql.setdefault(key, (sql, params))
            per_page_sql_ms[-1] += took
            per_page_queries[-1] += 1

    # Pass 1: CPU of this process and of the backend, no profiler, no wrapper.
    cpu_started, wall_started, db_started = time.process_time(), time.perf_counter(), _backend_cpu_s(backend)
    for _ in range(args.pages):
        page()
    app_cpu = (time.process_time() - cpu_started) * 1000 / args.pages
    db_cpu = (_backend_cpu_s(backend) - db_started) * 1000 / args.pages
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] == backend, "the connection was replaced during the run"
    wall = (time.perf_counter() - wall_started) * 1000 / args.pages

    # Pass 2: each statement's time (the wrapper adds its own small cost).
    with connection.execute_wrapper(timer):
        for _ in range(min(args.pages, 100)):
            per_page_sql_ms.append(0.0)
            per_page_queries.append(0)
            page()
    n2 = len(per_page_sql_ms)
    result: dict[str, Any] = {
        "path": args.path,
        "pages": args.pages,
        "html_bytes": len(body),
        "app_cpu_ms_per_page": round(app_cpu, 2),
        "postgres_backend_cpu_ms_per_page": round(db_cpu, 2),
        "wall_ms_per_page": round(wall, 2),
        "queries_per_page": per_page_queries[-1],
        "sql_wall_ms_per_page_median": round(statistics.median(per_page_sql_ms), 2),
        "statements": sorted(
            (
                {
                    "sql": key[:300],
                    "per_page": round(len(times) / n2, 2),
                    "median_ms": round(statistics.median(times), 3),
                }
                for key, times in statements.items()
            ),
            key=lambda s: -s["median_ms"] * s["per_page"],
        ),
    }
    # Each statement alone, repeated: the backend's CPU for it (what pg_stat_statements'
    # total time would say, without the extension) and this process's CPU around it.
    for entry in result["statements"]:
        sql, params = raw_sql[_key_of(entry["sql"], raw_sql)]
        with connection.cursor() as cursor:
            db_before, app_before = _backend_cpu_s(backend), time.process_time()
            for _ in range(100):
                cursor.execute(sql, params)
                cursor.fetchall()
            entry["postgres_cpu_ms"] = round((_backend_cpu_s(backend) - db_before) * 10, 3)
            entry["driver_cpu_ms"] = round((time.process_time() - app_before) * 10, 3)
    if args.explain:
        plans = []
        for key, (sql, params) in raw_sql.items():
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + sql, params)
                plan = "\n".join(r[0] for r in cursor.fetchall())
            plans.append({"sql": key[:300], "plan": plan})
        result["plans"] = plans
    if args.profile:
        # CPU time, not wall time: waiting for PostgreSQL is not this process's work.
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(args.pages):
            page()
        profiler.disable()
        stats = pstats.Stats(profiler)
        by_package: Counter[str] = Counter()
        for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            by_package[_package(filename)] += tottime
        result["profile_ms_per_page_by_package"] = {
            k: round(v * 1000 / args.pages, 2) for k, v in by_package.most_common(25)
        }
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
        out.write("\n")
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
        result["profile_text"] = out.getvalue()
    if args.pyinstrument:
        from pyinstrument import Profiler

        sampler = Profiler(interval=0.0005, async_mode="disabled")
        sampler.start()
        for _ in range(args.pages):
            page()
        sampler.stop()
        Path(args.pyinstrument).write_text(sampler.output_text(unicode=True, show_all=False))
    with open("/proc/loadavg") as loadavg:
        result["load_average"] = [float(x) for x in loadavg.read().split()[:3]]
    print(json.dumps(result, indent=1))


def _key_of(shown: str, raw_sql: dict[str, Any]) -> str:
    return next(key for key in raw_sql if key[:300] == shown)


def _package(filename: str) -> str:
    if "site-packages/" in filename:
        rest = filename.split("site-packages/", 1)[1].split("/")
        return "/".join(rest[:3]) if rest[0] == "django" else rest[0]
    if str(ROOT) in filename:
        return "app:" + "/".join(filename.split(str(ROOT) + "/", 1)[1].split("/")[:2])
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    return "stdlib:" + Path(filename).name


if __name__ == "__main__":
    main()
