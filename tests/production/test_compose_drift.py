"""The production smoke test runs docker-compose.yml's own commands: this parses the compose
file and the smoke test, so the two cannot drift apart."""

from __future__ import annotations

import re

import pytest

from tests.production import stack
from tests.production.stack import (
    APP_SERVICES,
    COLLECTSTATIC,
    HOST_DIFFERENCES,
    HOST_PROGRAMS,
    ROOT,
    app_environment,
    compose,
    compose_command,
    host_command,
    host_replacements,
    interpolate,
)

SMOKE = (ROOT / "tests" / "production" / "test_smoke.py").read_text()


def test_the_smoke_test_starts_every_compose_service_of_the_app_and_the_proxy():
    services = compose()["services"]
    built_here = {name for name, s in services.items() if "build" in s or name == "proxy"}
    assert built_here == {*APP_SERVICES, "proxy"}
    started = set(re.findall(r'compose_command\("([\w-]+)"\)', SMOKE))
    assert started == built_here


def test_host_commands_differ_from_compose_only_in_program_path_and_named_addresses():
    replacements = host_replacements(18000)
    used = set()
    for name in (*APP_SERVICES, "proxy"):
        argv = compose_command(name)
        host = host_command(argv, replacements)
        assert argv[0] in HOST_PROGRAMS and host[0] == HOST_PROGRAMS[argv[0]]
        assert len(host) == len(argv)
        for theirs, ours in zip(argv[1:], host[1:], strict=True):
            if theirs != ours:
                assert replacements[theirs] == ours
                used.add(theirs)
    # Every replacement still matches something in compose: a changed bind address or
    # Caddyfile path fails here instead of being silently ignored.
    assert used == set(replacements)


def test_host_environment_is_the_compose_environment_but_for_container_addresses():
    operator = {"SECRET_KEY": "s", "FIELD_ENCRYPTION_KEYS": "k", "SITE_DOMAIN": "localhost"}
    container = app_environment(operator, host={})
    host = app_environment(operator, host={k: "host" for k in HOST_DIFFERENCES})
    assert {k for k in container if container[k] != host[k]} == set(HOST_DIFFERENCES)
    assert container["ALLOWED_HOSTS"] == "localhost" and container["SITE_URL"] == "https://localhost"


def test_compose_interpolation_requires_the_secrets_like_compose_does():
    with pytest.raises(ValueError, match="SECRET_KEY"):
        app_environment({"FIELD_ENCRYPTION_KEYS": "k"}, host={})
    assert interpolate("${A:-${B:-x}}", {}) == "x" and interpolate("${A:-${B:-x}}", {"B": "b"}) == "b"


def test_static_files_are_collected_as_the_image_build_does():
    dockerfile = (ROOT / "scripts" / "Dockerfile").read_text()
    assert " ".join(COLLECTSTATIC) in dockerfile


def test_the_web_health_check_is_called_as_compose_calls_it():
    check = compose()["services"]["web"]["healthcheck"]["test"]
    assert any(stack.WEB_HEALTH_ADDRESS in arg for arg in check)
    assert 'compose()["services"]["web"]["healthcheck"]["test"]' in SMOKE
