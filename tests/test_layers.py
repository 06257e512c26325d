"""The direction of imports between the apps (docs/architecture.md): each app may import only
the layers below it, so a rule cannot quietly grow a second home in a higher layer."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "crm", "inbox", "sync", "api", "web")
# What each app must never import (its own layer and those below it are fine).
FORBIDDEN = {
    "accounts": {"crm", "inbox", "sync", "api", "web"},
    "crm": {"inbox", "sync", "api", "web"},
    "inbox": {"sync", "api", "web"},
    "sync": {"api", "web"},
    "api": {"sync", "web"},
    "web": set(),
}


@functools.cache  # both tests read the same ~150 files: parse each once per process
def imported_apps(path: Path) -> frozenset[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(APPS)
    return frozenset(found)


@pytest.mark.parametrize("app", APPS)
def test_an_app_imports_only_the_layers_below_it(app):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_apps(path) & FORBIDDEN[app])
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    }
    assert {path: apps for path, apps in offenders.items() if apps} == {}


def test_only_the_root_url_map_imports_the_html_front():
    importers = [
        str(path.relative_to(ROOT))
        for app in ("accounts", "crm", "inbox", "sync", "api", "config")
        for path in (ROOT / app).rglob("*.py")
        if "web" in imported_apps(path)
    ]
    assert importers == ["config/urls.py"]
