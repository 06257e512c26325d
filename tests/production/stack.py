"""The docker-compose.yml services, run on this machine with their exact commands.

No Docker engine runs here, so the production smoke test starts what compose would start,
read from docker-compose.yml itself: each service's ``command`` with the program taken from
this checkout's virtualenv (``python``, ``celery``, ``gunicorn``) or Debian (``caddy``),
and the app services' shared environment interpolated as compose does. What differs from a
container is only where things are: the listening addresses (free loopback ports instead of
0.0.0.0:8000 and 80/443), the Caddyfile's path, and the database, Redis and static-files
locations. ``HOST_DIFFERENCES`` names them; tests/production/test_compose_drift.py checks
that nothing else differs.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent
CADDY = shutil.which("caddy") or "/usr/bin/caddy"
HOST_PROGRAMS = {
    "python": sys.executable,
    "celery": str(BIN / "celery"),
    "gunicorn": str(BIN / "gunicorn"),
    "caddy": CADDY,
}
# The image's build step (scripts/Dockerfile): hashed, compressed files for whitenoise.
COLLECTSTATIC = ["python", "manage.py", "collectstatic", "--noinput", "-v0"]
# Environment keys whose compose value names a container address; on the host they point
# at this machine's PostgreSQL database and Redis.
HOST_DIFFERENCES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
APP_SERVICES = ("migrate", "web", "worker-push", "worker-pull", "beat")

# The only arguments of compose commands that name container-side things.
WEB_BIND = "0.0.0.0:8000"
CADDYFILE_IN_CONTAINER = "/etc/caddy/Caddyfile"
WEB_HEALTH_ADDRESS = "127.0.0.1:8000"


CADDYFILE = ROOT / "scripts" / "Caddyfile"


def host_replacements(web_port: int, caddyfile: Path = CADDYFILE) -> dict[str, str]:
    """Container-side arguments and what they are on this machine. ``caddyfile`` is where
    Caddy reads its config: a copy in Caddy's own directory when it runs as its system user,
    which cannot read a checkout under a private (0700) directory."""
    return {
        WEB_BIND: f"127.0.0.1:{web_port}",
        CADDYFILE_IN_CONTAINER: str(caddyfile),
    }


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^${}]*))?\}")


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?message}, nested defaults included."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        current = variables.get(name)
        if op.endswith("?") and not current:
            raise ValueError(f"required variable {name} is missing: {arg}")
        if op.endswith("-") and not current:
            return arg
        return current or ""

    while True:
        replaced = _VARIABLE.sub(one, value)
        if replaced == value:
            return replaced.replace("$$", "$")
        value = replaced


def compose_command(service: str) -> list[str]:
    return [str(arg) for arg in compose()["services"][service]["command"]]


def host_command(argv: list[str], replacements: dict[str, str] | None = None) -> list[str]:
    """A compose command as it runs here: the program from this machine, and container
    addresses/paths swapped for host ones (only the arguments named in ``replacements``)."""
    replacements = replacements or {}
    return [HOST_PROGRAMS.get(argv[0], argv[0]), *(replacements.get(arg, arg) for arg in argv[1:])]


def app_environment(variables: dict[str, str], host: dict[str, str]) -> dict[str, str]:
    """The app services' environment (x-app in docker-compose.yml) with ``variables`` as the
    operator's .env, then the container addresses in HOST_DIFFERENCES replaced."""
    env = {k: interpolate(str(v), variables) for k, v in compose()["x-app"]["environment"].items()}
    assert set(host) <= set(HOST_DIFFERENCES), set(host) - set(HOST_DIFFERENCES)
    env.update(host)
    return env


@dataclass
class Service:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class HostStack:
    """Processes started from compose commands, all stopped by ``stop``."""

    workdir: Path
    base_env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.workdir),
            "PYTHONPATH": str(ROOT),
            "LANG": "C.UTF-8",
            **self.base_env,
            **(extra or {}),
        }

    def run(self, name: str, argv: list[str], *, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """A one-shot service: must exit 0."""
        result = subprocess.run(
            argv, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=timeout, check=False
        )
        (self.workdir / f"{name}.log").write_text(result.stdout + result.stderr)
        assert result.returncode == 0, (
            f"{name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
        return result

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        extra_env: dict[str, str] | None = None,
        user: str | None = None,
        env_only: bool = False,
    ) -> Service:
        log_path = self.workdir / f"{name}.log"
        log = log_path.open("wb")
        env = extra_env if env_only else self.env(extra_env)
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, user=user, start_new_session=True
        )
        log.close()
        service = Service(name, argv, process, log_path)
        self.services[name] = service
        return service

    def wait_log(self, name: str, needle: str, *, timeout: float = 90) -> None:
        service = self.services[name]

        def ready() -> bool:
            if service.process.poll() is not None:
                raise RuntimeError(f"{name} exited ({service.process.returncode}):\n{service.log()[-3000:]}")
            return needle in service.log()

        wait_for(ready, f"{name} logging {needle!r}", timeout=timeout)

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            if service.process.poll() is None:
                os.killpg(service.process.pid, 15)
        for service in self.services.values():
            try:
                service.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(service.process.pid, 9)
                service.process.wait(timeout=10)


def unprivileged_user(name: str, *paths: Path) -> str | None:
    """Run a server as its Debian system user when the suite runs as root (as Dovecot does),
    owning only its own directories."""
    if os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return None
    for path in paths:
        for sub in [path, *path.rglob("*")]:
            os.chown(sub, account.pw_uid, account.pw_gid)
    return name
