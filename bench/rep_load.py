"""How many concurrent reps one box serves with p95 ≤ 300 ms on every endpoint, and how many
Inbox pages a second the box serves at most.

Starts gunicorn (``-w 4``, DEBUG=0, the production settings) on the bench database and runs
locust headless against it. Prints one JSON object.

Reps (default): ``bench/locustfile.py`` at each size in turn (3–10 s between clicks); every
endpoint's p95 per size, the largest size that met the target, and the load average.

    python bench/rep_load.py --database-url postgres://.../bench --users 40,100,200 --seconds 90

Ceiling (``--ceiling``): ``bench/locust_ceiling.py`` — signed-in users that ask for the Inbox
page again as soon as it arrives (a closed loop, no pauses), at each number of users in
turn; requests/s, p50 and p95 per size, and the most pages/s any size reached.

    python bench/rep_load.py --database-url postgres://.../bench --ceiling --users 4,8,16 --seconds 30
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET_P95_MS = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load_average() -> list[float]:
    with open("/proc/loadavg") as loadavg:
        return [float(x) for x in loadavg.read().split()[:3]]


def production_env(database_url: str) -> dict[str, str]:
    """The production settings (DEBUG=0) on the bench database, served over plain HTTP."""
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "k" * 50,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
    }


@contextmanager
def gunicorn(database_url: str, workers: int = 4) -> Iterator[str]:
    """gunicorn ``-w workers`` on the database; yields its base URL once it answers."""
    env = production_env(database_url)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "config.wsgi",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    host = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{host}/accounts/login/", timeout=2)  # noqa: S310  (our own server)
                break
            except OSError:
                time.sleep(0.3)
        yield host
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_locust(
    locustfile: str,
    host: str,
    *,
    users: int,
    spawn_rate: int,
    seconds: int,
    prefix: Path,
    reset_stats: bool = False,
) -> dict[str, dict[str, float | int]]:
    """One headless locust run; every endpoint's figures from its CSV (``prefix``_stats.csv)."""
    subprocess.run(
        [
            str(BIN / "locust"),
            "-f",
            str(ROOT / "bench" / locustfile),
            "--headless",
            "-H",
            host,
            "-u",
            str(users),
            "-r",
            str(spawn_rate),
            "-t",
            f"{seconds}s",
            "--csv",
            str(prefix),
            "--only-summary",
            *(["--reset-stats"] if reset_stats else []),
        ],
        cwd=ROOT,
        check=False,
        capture_output=True,
    )
    endpoints: dict[str, dict[str, float | int]] = {}
    with open(f"{prefix}_stats.csv") as stats:
        for row in csv.DictReader(stats):
            if row["Name"] == "Aggregated" or not row["Request Count"] or int(row["Request Count"]) == 0:
                continue
            endpoints[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "median_ms": float(row["50%"]),
                "p95_ms": float(row["95%"]),
                "rps": round(float(row["Requests/s"]), 2),
            }
    return endpoints


def _failures(prefix: Path) -> dict[str, int]:
    """What failed in a locust run, by endpoint and error (``prefix``_failures.csv)."""
    try:
        with open(f"{prefix}_failures.csv") as failures:
            return {
                f"{row['Name']}: {row['Error']}": int(row["Occurrences"]) for row in csv.DictReader(failures)
            }
    except FileNotFoundError:
        return {}


def reps(host: str, sizes: list[int], seconds: int, out: Path) -> dict[str, object]:
    results: list[dict[str, object]] = []
    served: list[int] = []
    for users in sizes:
        load_before = _load_average()
        endpoints = run_locust(
            "locustfile.py",
            host,
            users=users,
            spawn_rate=max(1, users // 20),
            seconds=seconds,
            prefix=out / f"reps-{users}",
        )
        met = all(e["p95_ms"] <= TARGET_P95_MS and e["failures"] == 0 for e in endpoints.values())
        results.append(
            {
                "reps": users,
                "seconds": seconds,
                "endpoints": endpoints,
                "every_p95_within_300ms": met,
                "load_average_before": load_before,
                "load_average_after": _load_average(),
            }
        )
        if met:
            served.append(users)
        print(f"{users} reps: met={met} " + json.dumps(endpoints), file=sys.stderr, flush=True)
    return {"sizes": results, "max_reps_within_target": max(served) if served else 0}


def ceiling(host: str, sizes: list[int], seconds: int, out: Path) -> dict[str, object]:
    """Inbox pages/s with no pauses: users sign in, then each asks again as soon as a page
    arrives. Stats are reset once every user is running (sign-ins are not in the figures)."""
    results: list[dict[str, object]] = []
    best_rps, best_users = -1.0, 0
    for users in sizes:
        load_before = _load_average()
        endpoints = run_locust(
            "locust_ceiling.py",
            host,
            users=users,
            spawn_rate=users,
            seconds=seconds,
            prefix=out / f"ceiling-{users}",
            reset_stats=True,
        )
        inbox = endpoints.get("inbox", {"requests": 0, "failures": 0, "median_ms": 0, "p95_ms": 0, "rps": 0})
        results.append(
            {
                "users": users,
                "seconds": seconds,
                "pages_per_s": inbox["rps"],
                "median_ms": inbox["median_ms"],
                "p95_ms": inbox["p95_ms"],
                "requests": inbox["requests"],
                "failures": inbox["failures"],
                "failure_reasons": _failures(out / f"ceiling-{users}"),
                "load_average_before": load_before,
                "load_average_after": _load_average(),
            }
        )
        if float(inbox["rps"]) > best_rps:
            best_rps, best_users = float(inbox["rps"]), users
        print(f"ceiling at {users} users: {json.dumps(inbox)}", file=sys.stderr, flush=True)
    return {"sizes": results, "pages_per_s": best_rps, "at_users": best_users}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--ceiling", action="store_true", help="Inbox pages/s with no pauses instead of reps")
    parser.add_argument("--users", default="", help="sizes, e.g. 40,100,200 (reps) or 4,8,16 (ceiling)")
    parser.add_argument(
        "--seconds", type=int, default=0, help="per size (default 90 for reps, 30 for the ceiling)"
    )
    parser.add_argument("--out", default=str(ROOT / "var" / "rep_load"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [int(u) for u in (args.users or ("4,8,16" if args.ceiling else "40,100,200")).split(",")]
    seconds = args.seconds or (30 if args.ceiling else 90)
    with gunicorn(args.database_url) as host:
        result = ceiling(host, sizes, seconds, out) if args.ceiling else reps(host, sizes, seconds, out)
    result["load_average"] = _load_average()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
