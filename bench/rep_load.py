"""How many concurrent reps one box serves with p95 ≤ 300 ms on every endpoint.

Starts gunicorn (``-w 4``, DEBUG=0, the production settings) on the bench database, runs
``bench/locustfile.py`` headless at each size in turn and prints one JSON object with every
endpoint's p95 per size, the largest size that met the target, and the load average.

    python bench/rep_load.py --database-url postgres://.../bench --users 40,100,200 --seconds 90
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--users", default="40,100,200")
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--out", default=str(ROOT / "var" / "rep_load"))
    args = parser.parse_args()
    from cryptography.fernet import Fernet

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "k" * 50,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
    }
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            str(bin_dir / "gunicorn"),
            "config.wsgi",
            "-w",
            "4",
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
        sizes = []
        for users in [int(u) for u in args.users.split(",")]:
            prefix = out / f"reps-{users}"
            with open("/proc/loadavg") as loadavg:
                load_before = [float(x) for x in loadavg.read().split()[:3]]
            subprocess.run(
                [
                    str(bin_dir / "locust"),
                    "-f",
                    str(ROOT / "bench" / "locustfile.py"),
                    "--headless",
                    "-H",
                    host,
                    "-u",
                    str(users),
                    "-r",
                    str(max(1, users // 20)),
                    "-t",
                    f"{args.seconds}s",
                    "--csv",
                    str(prefix),
                    "--only-summary",
                ],
                cwd=ROOT,
                check=False,
                capture_output=True,
            )
            with open("/proc/loadavg") as loadavg:
                load_after = [float(x) for x in loadavg.read().split()[:3]]
            endpoints = {}
            with open(f"{prefix}_stats.csv") as stats:
                for row in csv.DictReader(stats):
                    if (
                        row["Name"] == "Aggregated"
                        or not row["Request Count"]
                        or int(row["Request Count"]) == 0
                    ):
                        continue
                    endpoints[row["Name"]] = {
                        "requests": int(row["Request Count"]),
                        "failures": int(row["Failure Count"]),
                        "median_ms": float(row["50%"]),
                        "p95_ms": float(row["95%"]),
                        "rps": round(float(row["Requests/s"]), 2),
                    }
            met = all(e["p95_ms"] <= TARGET_P95_MS and e["failures"] == 0 for e in endpoints.values())
            sizes.append(
                {
                    "reps": users,
                    "seconds": args.seconds,
                    "endpoints": endpoints,
                    "every_p95_within_300ms": met,
                    "load_average_before": load_before,
                    "load_average_after": load_after,
                }
            )
            print(f"{users} reps: met={met} " + json.dumps(endpoints), file=sys.stderr, flush=True)
        served = [s["reps"] for s in sizes if s["every_p95_within_300ms"]]
        print(json.dumps({"sizes": sizes, "max_reps_within_target": max(served) if served else 0}))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
