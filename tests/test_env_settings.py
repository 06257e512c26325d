"""The settings helpers fail loudly on a missing or malformed variable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parent.parent


def test_typed_helpers_parse_and_default(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL") is True
    assert env_int("X_INT") == 42
    assert env_list("X_LIST") == ["a", "b", "c"]
    assert env_str("X_MISSING", "fallback") == "fallback"


@pytest.mark.parametrize(("helper", "value"), [(env_bool, "ture"), (env_int, "4 2")])
def test_malformed_value_names_the_variable(monkeypatch, helper, value):
    monkeypatch.setenv("X_BAD", value)
    with pytest.raises(ImproperlyConfigured, match="X_BAD"):
        helper("X_BAD")


def test_missing_required_variable_names_it(monkeypatch):
    monkeypatch.delenv("X_REQUIRED", raising=False)
    with pytest.raises(ImproperlyConfigured, match="X_REQUIRED is required"):
        env_str("X_REQUIRED")


def test_production_settings_refuse_to_start_without_secret_key():
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "0", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


# What processes on the filesystem broker (no REDIS_URL: the demo) do: a worker listens for
# control messages, a broadcast reaches it; kombu keeps the bindings in control_folder.
_BROADCAST = """
import json, django
django.setup()
from django.conf import settings
from config.celery import app
with app.connection_for_write() as conn:
    # A worker's control listener: its queue bound to the pidbox fanout exchange, which
    # kombu records in control_folder; the broadcast reads that binding to deliver.
    app.control.mailbox.Node("probe@test", channel=conn.default_channel).listen()
    app.control.broadcast("ping", reply=False, connection=conn)
print(json.dumps(settings.CELERY_BROKER_TRANSPORT_OPTIONS))
"""


def test_the_filesystem_broker_keeps_its_control_messages_under_var_dir(tmp_path):
    var_dir, cwd = tmp_path / "var", tmp_path / "elsewhere"
    cwd.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
        "VAR_DIR": str(var_dir),
    }
    result = subprocess.run(
        [sys.executable, "-c", _BROADCAST], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    options = json.loads(result.stdout.strip().splitlines()[-1])
    folders = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")
    assert all(Path(options[name]).is_relative_to(var_dir) for name in folders), options
    assert list(Path(options["control_folder"]).iterdir()), "no binding recorded in control_folder"
    assert list(cwd.iterdir()) == [], "kombu wrote into the working directory"
