"""Production smoke test: the docker-compose.yml services, started with their exact commands
on this machine (tests/production/stack.py), used through Caddy over HTTPS in Chromium.

Steps: collectstatic as the image build does; the one-shot migrate on a fresh database;
an operator's seed (company, rep, IMAP mailbox at a real Dovecot); gunicorn with DEBUG=0
and the compose environment; a push worker and a pull worker on their queues; beat; Caddy
with ``tls internal`` on free loopback ports, its root certificate trusted by the browser.
Then: sign in, the inbox is styled, the mailbox's messages arrive (pull), archiving one
moves it to the Archive folder at Dovecot (push), and /healthz answers through the proxy
and directly as the compose health check calls it; the workers' and beat's health checks pass.

SCREENSHOTS_DIR=docs/screenshots also writes docs/screenshots/production-inbox.png.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, expect

from tests.browser_fixtures import CHROMIUM, CHROMIUM_ARGS, watch_csp
from tests.imap.dovecot import Dovecot, make_message
from tests.ports import free_port
from tests.production.stack import (
    CADDY,
    CADDYFILE,
    COLLECTSTATIC,
    ROOT,
    WEB_HEALTH_ADDRESS,
    HostStack,
    app_environment,
    compose,
    compose_command,
    host_command,
    host_replacements,
    interpolate,
    unprivileged_user,
)
from tests.waiting import wait_for

pytestmark = [pytest.mark.smoke, pytest.mark.dovecot, pytest.mark.timeout(420)]

PASSWORD = "smoke-test-password-1"
SUBJECTS = [
    ("Pricing for 40 seats", "Maria Lopez <maria@northwind.test>"),
    ("Re: Renewal terms for 2027", "Jonas Berg <jonas@fabrikam.test>"),
    ("Security questionnaire", "Priya Shah <priya@contoso.test>"),
    ("Kick-off next Tuesday?", "Tom Reed <tom@litware.test>"),
    ("Invoice 2291", "Accounts <billing@adatum.test>"),
]


@pytest.fixture
def smoke_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for the one-shot migrate, dropped afterwards."""
    base = urlsplit(os.environ["DATABASE_URL"])
    name = f"{base.path.lstrip('/')}_smoke_{os.getpid()}"
    admin = base._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base._replace(path=f"/{name}").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def smoke_redis(tmp_path: Path) -> Iterator[str]:
    """compose's redis service: a redis-server of its own (its queues are nobody else's)."""
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: (
                subprocess.run(
                    ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
                ).stdout.strip()
                == "PONG"
            ),
            "redis-server",
        )
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def trusting_browser(browser: Browser, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A Chromium of its own whose NSS database (under its own HOME) will trust a CA root."""
    home = tmp_path / "chromium-home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True)

    def launch(root_cert: Path) -> Browser:
        subprocess.run(
            [
                "certutil",
                "-A",
                "-d",
                f"sql:{nssdb}",
                "-n",
                "caddy-smoke-root",
                "-t",
                "C,,",
                "-i",
                str(root_cert),
            ],
            check=True,
        )
        chromium = browser.browser_type.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, env={**os.environ, "HOME": str(home)}
        )
        launched.append(chromium)
        return chromium

    launched: list[Browser] = []
    yield launch
    for chromium in launched:
        chromium.close()


def test_production_stack_behind_caddy_signs_in_styles_pulls_and_pushes(
    dovecot: Dovecot, smoke_database: str, smoke_redis: str, trusting_browser, tmp_path: Path
):
    assert Path(CADDY).exists(), "caddy is missing: run scripts/ensure-test-services.sh"
    mail_user = dovecot.add_user("smoke")
    with mail_user.client() as mua:
        for subject, sender in SUBJECTS:
            mua.append("INBOX", make_message(subject=subject, sender=sender, to=mail_user.address)[1])

    # The operator's .env: only the two required secrets and the domain.
    operator_env = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SITE_DOMAIN": "localhost",
    }
    env = app_environment(
        operator_env,
        host={"DATABASE_URL": smoke_database, "REDIS_URL": smoke_redis, "CELERY_BROKER_URL": smoke_redis},
    )
    assert env["DEBUG"] == "0" and env["BEHIND_TLS_PROXY"] == "1" and env["SECURE_SSL_REDIRECT"] == "1"
    # What the image sets (scripts/Dockerfile): where collectstatic writes, and var/.
    env |= {"STATIC_ROOT": str(tmp_path / "staticfiles"), "VAR_DIR": str(tmp_path / "var")}
    stack = HostStack(tmp_path, env)
    cleanup: list[Callable[[], object]] = []
    web_port, https_port, http_port, proxy_health = free_port(), free_port(), free_port(), free_port()
    try:
        stack.run("collectstatic", host_command(COLLECTSTATIC))
        assert (tmp_path / "staticfiles" / "staticfiles.json").exists()
        stack.run("migrate", host_command(compose_command("migrate"), host_replacements(web_port)))
        stack.run(
            "seed",
            [
                *(sys.executable, "-m", "tests.production.seed", "alice@acme.test", PASSWORD),
                *(mail_user.login, mail_user.password, str(dovecot.port)),
            ],
        )

        here = host_replacements(web_port)
        stack.start("web", host_command(compose_command("web"), here))
        stack.start("worker-push", host_command(compose_command("worker-push"), here))
        stack.start("worker-pull", host_command(compose_command("worker-pull"), here))
        stack.start("beat", host_command(compose_command("beat"), here))

        # Caddy's own data dir (its CA, certificates): outside pytest's root-only tmp tree,
        # owned by the unprivileged user it runs as.
        caddy_dir = Path(tempfile.mkdtemp(prefix="si-caddy-"))
        cleanup.append(lambda: shutil.rmtree(caddy_dir, ignore_errors=True))
        (caddy_dir / "data").mkdir(parents=True)
        (caddy_dir / "config").mkdir()
        caddyfile = caddy_dir / "Caddyfile"
        shutil.copyfile(CADDYFILE, caddyfile)
        proxy_env = {
            k: interpolate(str(v), operator_env)
            for k, v in compose()["services"]["proxy"]["environment"].items()
        }
        proxy_env |= {
            "APP_UPSTREAM": f"127.0.0.1:{web_port}",
            "HTTP_PORT": str(http_port),
            "HTTPS_PORT": str(https_port),
            "PROXY_HEALTH_PORT": str(proxy_health),
            "XDG_DATA_HOME": str(caddy_dir / "data"),
            "XDG_CONFIG_HOME": str(caddy_dir / "config"),
            "HOME": str(caddy_dir),
            "PATH": "/usr/bin:/bin",
        }
        assert proxy_env["CADDY_TLS"] == "internal" and proxy_env["SITE_DOMAIN"] == "localhost"
        stack.start(
            "proxy",
            host_command(compose_command("proxy"), host_replacements(web_port, caddyfile)),
            extra_env=proxy_env,
            env_only=True,
            user=unprivileged_user("caddy", caddy_dir),
        )

        # /healthz exactly as the web container's health check calls it.
        check = compose()["services"]["web"]["healthcheck"]["test"]
        assert check[0] == "CMD"
        check_argv = host_command([a.replace(WEB_HEALTH_ADDRESS, f"127.0.0.1:{web_port}") for a in check[1:]])
        wait_for(
            lambda: (
                subprocess.run(check_argv, env=stack.env(), capture_output=True, check=False).returncode == 0
            ),
            "the web health check",
        )
        # A container's HOSTNAME is the host name its worker puts in its name (push@%h).
        health_env = stack.env({"HOSTNAME": socket.gethostname()})
        stack.wait_log("worker-push", " ready.")
        stack.wait_log("worker-pull", " ready.")
        stack.wait_log("beat", "beat: Starting")

        # The proxy: its own health check, then its internal CA and a certificate for localhost.
        wait_for(
            lambda: _get(f"http://127.0.0.1:{proxy_health}/healthz") == (200, b"ok"), "the proxy health check"
        )
        root_cert = caddy_dir / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        wait_for(root_cert.exists, "Caddy's internal CA")
        tls = ssl.create_default_context(cafile=str(root_cert))
        wait_for(
            lambda: _get(f"https://localhost:{https_port}/healthz", tls) == (200, b"ok"),
            "/healthz through the proxy over verified TLS",
        )
        status, _ = _get(f"http://localhost:{http_port}/inbox/", follow=False)
        assert status in (301, 302, 307, 308), "plain HTTP is redirected to HTTPS"

        chromium = trusting_browser(root_cert)
        context = chromium.new_context(
            base_url=f"https://localhost:{https_port}", viewport={"width": 1440, "height": 900}
        )
        violations: list[str] = []
        watch_csp(context, violations)
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        page.goto("/accounts/login/")  # a certificate error would raise here: the root is trusted
        page.get_by_label("Email").fill("alice@acme.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/inbox/"))

        # Styled: the stylesheet is the hashed file whitenoise serves, and its rules apply.
        href = page.locator("link[rel=stylesheet]").get_attribute("href") or ""
        assert re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", href), href
        assert page.evaluate("() => getComputedStyle(document.querySelector('.topbar')).position") == "sticky"
        assert (
            page.evaluate("() => getComputedStyle(document.querySelector('.visually-hidden')).position")
            == "absolute"
        )
        # Hashed names are cached for good (whitenoise's immutable-file headers).
        cache = page.evaluate("h => fetch(h).then(r => r.ok && r.headers.get('cache-control'))", href)
        assert cache and "max-age=315360000" in cache, cache

        # The pull worker brings the mailbox in (the seed nudged its first sync; beat keeps it).
        first_subject = SUBJECTS[0][0]
        row = page.locator(".row, [id^=conv-]").filter(has_text=first_subject).first

        def arrived() -> bool:
            page.reload()
            return row.count() == 1

        wait_for(arrived, "the first pull", timeout=120, interval=1)
        expect(page.locator("[id^=conv-]")).to_have_count(len(SUBJECTS))
        if os.environ.get("SCREENSHOTS_DIR"):
            target = Path(os.environ["SCREENSHOTS_DIR"])
            target.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target / "production-inbox.png"))

        # Archive it: the push worker moves it to the Archive folder at Dovecot.
        row.hover()
        row.get_by_role("button", name=re.compile(f"^Archive .{re.escape(first_subject)}")).click()
        expect(page.locator("[id^=conv-]")).to_have_count(len(SUBJECTS) - 1)
        archive = mail_user.folder("archive")

        def pushed() -> bool:
            with mail_user.client() as mua:
                in_archive = [s for s in _subjects(mua, archive) if s == first_subject]
                in_inbox = [s for s in _subjects(mua, "INBOX") if s == first_subject]
            return in_archive == [first_subject] and not in_inbox

        wait_for(pushed, "the archive push reaching Dovecot", timeout=60, interval=0.5)
        # Each pool ran its own kind of task only.
        push_log, pull_log = stack.services["worker-push"].log(), stack.services["worker-pull"].log()
        assert "Task sync.push_changes[" in push_log and "Task sync.push_changes[" not in pull_log
        assert "Task sync.sync_account[" in pull_log and "Task sync.sync_account[" not in push_log

        # The workers' and beat's own health checks pass, run as compose runs them.
        for service in ("worker-push", "worker-pull", "beat"):
            argv = _health_check(service)
            wait_for(
                lambda argv=argv: _exits_0(argv, health_env),
                f"the {service} health check",
                timeout=90,
                interval=2,
            )
        context.close()
        assert not errors, errors
        assert not violations, violations
    except BaseException:
        for service in stack.services.values():
            sys.stderr.write(f"\n--- {service.name} ---\n{service.log()[-2500:]}")
        raise
    finally:
        stack.stop()
        for step in cleanup:
            step()


def _health_check(service: str) -> list[str]:
    """A compose health check as it runs here: ``CMD`` with this machine's programs,
    ``CMD-SHELL`` through sh (compose's ``$$`` is a literal ``$``)."""
    kind, *rest = compose()["services"][service]["healthcheck"]["test"]
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", interpolate(rest[0], {})]
    assert kind == "CMD", kind
    return host_command(rest)


def _exits_0(argv: list[str], env: dict[str, str]) -> bool:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=False).returncode == 0


def _subjects(client, folder: str) -> list[str]:  # type: ignore[no-untyped-def]
    client.select_folder(folder, readonly=True)
    uids = client.search(["NOT", "DELETED"])
    if not uids:
        return []
    fetched = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return [
        data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip() for data in fetched.values()
    ]


def _get(url: str, context: ssl.SSLContext | None = None, *, follow: bool = True) -> tuple[int, bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.HTTPSHandler(context=context),
        urllib.request.ProxyHandler({}),
    ]
    if not follow:
        handlers.append(NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (urllib.error.URLError, OSError):
        return 0, b""
