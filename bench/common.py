"""Shared helpers for the benchmarks: fresh databases, Django on a seeded one, timing, the
machine record, and bench/results/latest.json."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"
RESULTS = ROOT / "bench" / "results" / "latest.json"


def fresh_database(name: str) -> str:
    """Drop and create a PostgreSQL database, migrate it, and return its URL."""
    for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)
    url = f"{PG}/{name}"
    manage("migrate", "--noinput", "-v0", database_url=url)
    return url


def settle(database_url: str) -> None:
    """``VACUUM (ANALYZE)`` a freshly seeded database: what autovacuum does to a production
    database soon after a bulk load (it runs after 1,000 + 20% of a table's rows are inserted).

    The machines the bench runs on have autovacuum turned off, so without this a seeded table
    is never vacuumed: its visibility map stays empty, every index-only scan visits the heap
    for each row, and the planner reads capped counts by sequential scan. That would measure
    a state no running installation stays in (on one such machine, the Inbox page cost 9.6 ms
    of PostgreSQL CPU unvacuumed and 4.0 ms vacuumed)."""
    subprocess.run(
        ["psql", "-q", "-d", database_url, "-c", "VACUUM (ANALYZE)"], check=True, capture_output=True
    )


def setup_django_on(database_url: str) -> None:
    """Django on a database bench/run.py seeded (DEBUG=1 spares a collectstatic manifest; the
    test client's host allowed)."""
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "ALLOWED_HOSTS": "testserver,localhost",
        }
    )
    import django

    django.setup()


def production_settings_env(database_url: str) -> dict[str, str]:
    """The environment of the app as production runs it (DEBUG=0, the production settings),
    served over plain HTTP on 127.0.0.1 for a bench: a throwaway secret and encryption key."""
    from cryptography.fernet import Fernet

    return {
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "k" * 50,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
    }


def latest_results() -> dict[str, Any]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def merge_results(fresh: dict[str, object]) -> dict[str, object]:
    """latest.json keeps every key a part of the bench wrote; a run replaces its own keys."""
    results = {**latest_results(), **fresh}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    return results


def manage(*args: str, database_url: str) -> str:
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


def timed(fn: Callable[[], object], *, runs: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 2),
        "runs": runs,
    }


def machine() -> dict[str, object]:
    def version(cmd: list[str]) -> str:
        try:
            return (
                subprocess.run(cmd, capture_output=True, text=True, check=False)
                .stdout.strip()
                .splitlines()[0]
            )
        except (OSError, IndexError):
            return "not found"

    mem_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    import django

    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": version(["psql", "--version"]),
        "dovecot": version(["dovecot", "--version"]),
        "kernel": platform.release(),
        "postgresql_autovacuum": _pg_setting("autovacuum"),
    }


def _pg_setting(name: str) -> str:
    """A setting of the bench's PostgreSQL server, as it reports it ("" when unreachable)."""
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", f"SHOW {name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip()
