"""Real processes for the chaos runs, and the handles to hurt them.

* ``RedisServer`` — a redis-server of our own (append-only, ``noeviction``, as in
  production) that can be stopped gracefully or with SIGKILL and started again on the same
  port with the same data directory.
* ``ChaosDovecot`` — the suite's Dovecot (tests/imap/dovecot.py) on the chaos ports, which
  can be stopped and started again on the same ports, and whose UIDVALIDITY can be reset
  the way a restored or migrated server does it.
* ``Workers`` — real ``celery worker`` processes (prefork, as in production) and a real
  ``celery beat`` on the chaos broker and the given database; any of them can be killed
  with SIGKILL — the whole worker or only the pool process that is running a task.
* ``ImapProxy`` — a TCP relay in front of Dovecot that runs a hook right before it passes
  on a chosen command, so "another client" can act between our SELECT and our MOVE.

Nothing here touches the shared Redis or PostgreSQL: every server is our own, on ports
16379-16398 (Redis) and 14700-14799 (everything else).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.imap.dovecot import DOVECOT, Dovecot, MailUser
from tests.ports import free_port, listening_socket
from tests.waiting import wait_for
from tests.worker import worker_queues

ROOT = Path(__file__).resolve().parent.parent.parent
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
QUEUE = "salesinbox"


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


# --- Redis ----------------------------------------------------------------------------------
class RedisServer:
    """Our own broker. Production settings: AOF on (fsync every second), never evict keys."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="si-chaos-redis-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._held: list[socket.socket] = []

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        self.root.mkdir(parents=True, exist_ok=True)
        for holder in self._held:
            holder.close()
        self._held = []
        if not self.port:
            self.port = free_port()
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.root),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--maxmemory-policy",
                "noeviction",
                "--save",
                "",
                "--logfile",
                str(self.root / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=20, interval=0.1, what=f"redis on {self.port}")
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{self.log_tail()}")
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self, *, hard: bool = False, hold: bool = False) -> None:
        """SIGTERM: Redis flushes its append-only file and exits. SIGKILL: whatever was not
        yet fsynced (up to a second of writes) is gone — the outbox must not care.
        ``hold`` keeps the port (bound, not listening) until the next start."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGKILL if hard else signal.SIGTERM)
        self.process.wait(timeout=30)
        if hold:
            holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind(("127.0.0.1", self.port))
            self._held.append(holder)

    def restart(self, *, hard: bool, down_for: float = 0.0) -> None:
        self.stop(hard=hard, hold=True)
        time.sleep(down_for)
        self.start()
        self.restarts += 1

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5)

    def config(self, name: str) -> str:
        return str(self.client().config_get(name)[name])

    def commands(self, name: str) -> int:
        """How many times Redis ran a command (e.g. lpush: every Celery message sent)."""
        stats = self.client().info("commandstats").get(f"cmdstat_{name}", {})
        return int(stats.get("calls", 0))

    def log_tail(self) -> str:
        path = self.root / "redis.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# --- Dovecot ----------------------------------------------------------------------------------
class ChaosDovecot(Dovecot):
    """Dovecot that survives being stopped: ``resume()`` starts it again on the same ports,
    with the same users and maildirs."""

    def start(self, timeout: float = 20, attempts: int = 5) -> ChaosDovecot:
        super().start(timeout, attempts)
        return self

    _held: list[socket.socket]

    def pause(self) -> None:
        """Stop the server, keeping its ports: bound but not listening, a connection is
        refused exactly as by a stopped server, and no other test session (they share this
        machine's ports) can take them meanwhile."""
        self.stop()
        self._held = []
        for port in (self.port, self.tls_port):
            if port:
                holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
                holder.bind(("127.0.0.1", port))
                self._held.append(holder)

    def resume(self, timeout: float = 20) -> None:
        """Start the stopped server again from the config it wrote (same ports, same mail)."""
        assert not self.running
        for holder in getattr(self, "_held", []):
            holder.close()
        self._held = []
        log = (self.root / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self.run_as.pw_uid,
            group=self.run_as.pw_gid,
            extra_groups=[],
        )
        wait_for(
            lambda: self._listening(self.port) or not self.running,
            timeout=timeout,
            interval=0.1,
            what="Dovecot",
        )
        time.sleep(0.1)  # a failed bind ends the master at once: is the listener really ours?
        if not self.running:
            raise RuntimeError(f"Dovecot could not take its ports back:\n{self.log_text()}")

    def reset_uidvalidity(self, user: MailUser, folder: str = "INBOX") -> None:
        """What a restore from backup or a migration does: a new UIDVALIDITY, and every
        message numbered afresh — in reverse order, so an old UID now names another message.

        Dovecot keeps UIDs in ``dovecot-uidlist`` (and its indexes); without them it assigns
        a new UIDVALIDITY and new UIDs in file-name order at the next SELECT.
        """
        was_running = self.running
        self.pause()
        base = self.maildir(user) if folder == "INBOX" else self.maildir(user) / f".{folder}"
        for path in base.iterdir():
            if path.is_file() and (path.name == "dovecot-uidlist" or path.name.startswith("dovecot.index")):
                path.unlink()
        files = sorted((base / "cur").iterdir()) + sorted((base / "new").iterdir())
        for position, path in enumerate(files):
            # Maildir names start with the delivery time; a descending prefix reverses the order.
            path.rename(base / "cur" / f"{9_000_000_000 - position}.reset{position}{_flags(path.name)}")
        self._chown(base)
        if was_running:
            self.resume()


def _flags(name: str) -> str:
    return name[name.index(":2,") :] if ":2," in name else ":2,"


# --- Celery worker and beat processes ----------------------------------------------------------
@dataclass
class Proc:
    name: str
    args: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log_offset: int = 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Kill:
    at: float  # time.monotonic()
    worker: str
    what: str  # "whole worker" | "pool process"
    pids: list[int]
    busy: bool  # it was talking to the provider when it died
    running_changes: int  # outbox rows in "running" at that moment


@dataclass
class Workers:
    """``count`` Celery workers (prefork, ``concurrency`` pool processes each) and one beat."""

    env: dict[str, str]
    log_dir: Path
    count: int = 2
    concurrency: int = 2
    settings_module: str = "tests.chaos.settings"
    procs: dict[str, Proc] = field(default_factory=dict)
    kills: list[Kill] = field(default_factory=list)
    # name -> time.monotonic() before which a killed process stays down (its supervisor's delay)
    down_until: dict[str, float] = field(default_factory=dict)
    unplanned_exits: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        celery = [sys.executable, "-m", "celery", "-A", "config"]
        for n in range(1, self.count + 1):
            name = f"worker{n}"
            self.procs[name] = Proc(
                name,
                [
                    *celery,
                    "worker",
                    "--pool=prefork",
                    f"--concurrency={self.concurrency}",
                    "--loglevel=INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-Q",
                    worker_queues(QUEUE),
                    "-n",
                    f"chaos{n}-{os.getpid()}@%h",
                ],
                self.log_dir / f"{name}.log",
            )
        self.procs["beat"] = Proc(
            "beat",
            [
                *celery,
                "beat",
                "--loglevel=INFO",
                "--schedule",
                str(self.log_dir / "beat-schedule"),
            ],
            self.log_dir / "beat.log",
        )

    @property
    def workers(self) -> list[str]:
        return [name for name in self.procs if name != "beat"]

    def full_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": self.settings_module,
            "CELERY_QUEUE": QUEUE,
            "PYTHONPATH": str(ROOT),
            **self.env,
        }

    def start(self, name: str, *, wait: bool = True) -> None:
        proc = self.procs[name]
        assert not proc.alive, f"{name} is already running"
        self.down_until.pop(name, None)
        proc.log_offset = proc.log.stat().st_size if proc.log.exists() else 0
        with proc.log.open("ab") as log:
            proc.process = subprocess.Popen(
                proc.args, cwd=ROOT, env=self.full_env(), stdout=log, stderr=subprocess.STDOUT
            )
        proc.starts += 1
        if wait:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 90) -> None:
        proc = self.procs[name]
        marker = b" ready." if name != "beat" else b"beat: Starting..."

        def ready() -> bool:
            if not proc.alive:
                raise RuntimeError(f"{name} exited:\n{self.log_tail(name)}")
            with proc.log.open("rb") as log:
                log.seek(proc.log_offset)
                return marker in log.read()

        wait_for(ready, timeout=timeout, interval=0.2, what=f"{name} to be ready")

    def start_all(self) -> None:
        for name in self.procs:
            self.start(name, wait=False)
        for name in self.procs:
            self.wait_ready(name)

    def pool_pids(self, name: str) -> list[int]:
        proc = self.procs[name]
        return children(proc.process.pid) if proc.alive and proc.process else []

    def supervise(self) -> list[str]:
        """What ``restart: unless-stopped`` does in docker-compose.yml: a worker or beat that
        exited — killed, or on its own — is started again (killed ones after their delay)."""
        started = []
        now = time.monotonic()
        for name, proc in self.procs.items():
            if proc.process is None or proc.alive:
                continue
            if name in self.down_until:
                if now < self.down_until[name]:
                    continue
            else:
                last = self.log_tail(name, 2000).strip().splitlines()
                self.unplanned_exits.append(
                    f"{name}: exited {proc.process.returncode}: {last[-1] if last else ''}"
                )
            self.start(name, wait=False)
            started.append(name)
        return started

    def busy_pool_process(self, provider_port: int) -> tuple[str, int] | None:
        """(worker, pool pid) of a pool process talking to the provider right now."""
        for name in self.workers:
            for pid in self.pool_pids(name):
                if connected_to(pid, provider_port):
                    return name, pid
        return None

    def kill(
        self,
        name: str,
        *,
        whole: bool,
        provider_port: int = 0,
        running_changes: int = 0,
        revive_after: float = 2.0,
        target: int | None = None,
    ) -> Kill:
        """SIGKILL a worker: the main process and its pool (a container killed), or only the
        pool process that is busy talking to the provider (a crash inside a task)."""
        proc = self.procs[name]
        assert proc.alive and proc.process is not None
        if target is not None and not whole:
            # No bookkeeping first: the push it is in the middle of may last only ~50 ms.
            with suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
        pool = self.pool_pids(name)
        busy = [pid for pid in pool if provider_port and connected_to(pid, provider_port)]
        if target is not None and target in pool and target not in busy:
            busy.append(target)  # it was connected a moment ago: the push may just be ending
        pids = [proc.process.pid, *pool] if whole else busy[:1] or pool[:1]
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if whole:
            self.down_until[name] = time.monotonic() + revive_after
            proc.process.wait(timeout=30)
        kill = Kill(
            time.monotonic(),
            name,
            "whole worker" if whole else "pool process",
            pids,
            bool(busy),
            running_changes,
        )
        self.kills.append(kill)
        return kill

    def stop_all(self) -> None:
        self.down_until = {name: float("inf") for name in self.procs}
        for proc in self.procs.values():
            if proc.alive and proc.process is not None:
                proc.process.terminate()
        for proc in self.procs.values():
            if proc.process is None:
                continue
            try:
                proc.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                for pid in [proc.process.pid, *children(proc.process.pid)]:
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                proc.process.wait(timeout=10)

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.procs[name].log
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def log_count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        total = 0
        for proc in self.procs.values():
            if proc.log.exists():
                total += len(regex.findall(proc.log.read_text(errors="replace")))
        return total


def children(pid: int) -> list[int]:
    """Direct child processes, from /proc (no psutil on these machines)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def connected_to(pid: int, port: int) -> bool:
    """Whether the process holds an established TCP connection to 127.0.0.1:port."""
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")
        }
        table = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in table:
        parts = line.split()
        remote, state, inode = parts[2], parts[3], parts[9]
        if state == "01" and int(remote.split(":")[1], 16) == port and inode in inodes:
            return True
    return False


# --- a relay in front of Dovecot ----------------------------------------------------------------
DROP = object()


class ImapProxy:
    """Relays IMAP between the adapter and Dovecot; ``before(pattern, hook)`` runs ``hook``
    once, right before a client command matching ``pattern`` reaches the server. A hook
    that returns ``DROP`` closes the connection instead (a server going away mid-command)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.hooks: list[tuple[re.Pattern[bytes], Callable[[bytes], object]]] = []
        self.commands: list[bytes] = []
        self._server: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> ImapProxy:
        server = listening_socket(backlog=16)
        self._server, self.port = server, server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="imap-proxy").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def before(self, pattern: bytes, hook: Callable[[bytes], object]) -> None:
        with self._lock:
            self.hooks.append((re.compile(pattern, re.IGNORECASE), hook))

    def _accept(self) -> None:
        while self._server is not None:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
            threading.Thread(target=self._client_side, args=(client, upstream), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _client_side(self, client: socket.socket, upstream: socket.socket) -> None:
        buffer = b""
        try:
            while data := client.recv(65536):
                buffer += data
                while b"\r\n" in buffer:
                    line, buffer = buffer.split(b"\r\n", 1)
                    self.commands.append(line)
                    if self._run_hooks(line) is DROP:
                        return
                    upstream.sendall(line + b"\r\n")
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _run_hooks(self, line: bytes) -> object:
        with self._lock:
            due = [(p, h) for p, h in self.hooks if p.search(line)]
            for entry in due:
                self.hooks.remove(entry)
        outcome = None
        for _, hook in due:
            outcome = hook(line) or outcome
        return outcome


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this process's Celery app (the on-commit nudges) at ``url`` for a while.

    Celery reads CELERY_BROKER_URL from the environment before its configuration; its
    connection pools are dropped so the next send connects to the new broker.
    """
    from config.celery import app

    saved = os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = url

    def reset_pools() -> None:
        app._pool = None
        app.amqp._producer_pool = None

    reset_pools()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved
        reset_pools()
