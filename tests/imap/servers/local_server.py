"""What the suite's own IMAP servers (tests/imap/dovecot.Dovecot, tests/imap/servers/cyrus.Cyrus)
share: a process of their own, unprivileged, with everything in a temporary folder, started
on a free loopback port, stopped with SIGTERM (SIGKILL after 10 s), and removed at exit.

A subclass writes its config and starts its process in ``_start_once(timeout)`` (True when
it came up: ``_came_up(ready, timeout)``), and names its log files in ``log_files``.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.waiting import wait_until


def server_user(system_user: str) -> pwd.struct_passwd:
    """Who the server runs as: the invoking user, or the package's system user when that is
    root (CI containers) — never a privileged test server."""
    if os.geteuid() == 0:
        return pwd.getpwnam(system_user)
    return pwd.getpwuid(os.geteuid())


class LocalServer:
    server_name = "the server"
    log_files: tuple[str, ...] = ()
    root: Path
    run_as: pwd.struct_passwd
    process: subprocess.Popen[bytes] | None

    def _start_once(self, timeout: float) -> bool:
        raise NotImplementedError

    def _start_on_a_free_port(self, timeout: float, attempts: int) -> None:
        """Another test session may take the port between our probe and the server's bind:
        the server then exits at once, and we try the next free port."""
        for _ in range(attempts):
            if self._start_once(timeout):
                atexit.register(self.cleanup)
                return
        raise RuntimeError(f"{self.server_name} did not start:\n{self.log_text()}")

    def _came_up(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Whether ``ready()`` held while the process still ran, within ``timeout`` s; if
        not, the process is stopped."""
        if wait_until(lambda: not self.running or ready(), timeout=timeout, interval=0.05) and self.running:
            return True
        self.stop()
        return False

    def _still_ours(self) -> bool:
        """Listening, but is it ours? A server whose bind failed exits at once."""
        time.sleep(0.05)
        return self.running

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        parts = []
        for name in self.log_files:
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def _chown(self, path: Path) -> None:
        """``path`` and all below it to the user the server runs as (when we are root)."""
        if os.geteuid() != 0:
            return
        uid, gid = self.run_as.pw_uid, self.run_as.pw_gid
        os.chown(path, uid, gid)
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)
