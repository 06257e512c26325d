"""`make demo` checks its port first and says why it cannot start (not only in a log)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "run-demo.sh"


def _check(port: int | str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORT": str(port)}
    return subprocess.run(
        [str(SCRIPT), "--check-port"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_taken_port_stops_the_demo_with_the_reason_and_the_way_out():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _check(port)
    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is not free: Address already in use." in result.stderr
    assert "make demo PORT=8001" in result.stderr


def test_a_free_port_passes_and_a_wrong_one_is_named():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert _check(port).returncode == 0
    wrong = _check("eighty")
    assert wrong.returncode == 1 and "PORT='eighty' is not a port number." in wrong.stderr


def test_the_demo_worker_takes_every_queue_a_task_is_routed_to():
    """The demo runs one worker for pushes and pulls (production runs a pool for each)."""
    from config.celery import TASK_QUEUES, queue_name

    script = SCRIPT.read_text()
    line = next(line for line in script.splitlines() if line.startswith("QUEUES="))
    shown = subprocess.run(
        ["bash", "-c", f'{line}; echo "$QUEUES"'],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    routed = {queue_name(kind, "salesinbox") for kind in TASK_QUEUES.values()} | {"salesinbox"}
    assert routed <= set(shown.split(","))
    assert 'worker --loglevel=INFO --concurrency=1 --pool=solo -Q "${QUEUES}"' in script


def test_demo_reset_drops_the_demo_data_then_runs_the_demo_on_the_chosen_port():
    # -n prints what make would run (the nested `make demo` prints too) and runs nothing.
    result = subprocess.run(
        ["make", "-n", "demo-reset", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    drop = next(i for i, line in enumerate(lines) if line.startswith("rm -rf var/db.sqlite3"))
    check = next(i for i, line in enumerate(lines) if "PORT=8123 scripts/run-demo.sh --check-port" in line)
    seed = next(i for i, line in enumerate(lines) if "manage.py seed_demo" in line)
    assert drop < check < seed
