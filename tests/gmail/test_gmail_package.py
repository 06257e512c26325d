"""The Gmail adapter is a package of the same shape as the other providers, and each of its
modules can be imported first, on its own (no import cycle between pull, push and client)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sync.providers import adapter_for
from tests.factories import personal_account

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["auth", "client", "labels", "pull", "push", "send", "attachment_data"]


@pytest.mark.parametrize("module", MODULES)
def test_each_gmail_module_imports_first_on_its_own(module):
    code = (
        "import django; django.setup(); import importlib; "
        f"importlib.import_module('sync.providers.gmail.{module}'); "
        "from sync.providers.gmail import GmailAdapter"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.django_db
def test_the_adapter_keeps_its_import_path(alice):
    from inbox.models import Provider
    from sync.providers.gmail import GmailAdapter

    assert isinstance(adapter_for(personal_account(alice, provider=Provider.GMAIL)), GmailAdapter)
