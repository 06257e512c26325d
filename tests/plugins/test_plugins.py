"""The suite's own plugins: tiers by what a test uses, a Redis database per xdist worker."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.imap.dovecot import Dovecot
from tests.plugins.parallel import (
    pytest_collection_modifyitems,
    pytest_xdist_setupnodes,
    redis_url_for_worker,
)
from tests.plugins.tiers import TESTS, deselected_whatever_its_tiers, tiers_of, xdist_group_of
from tests.worker import running_worker


def fake_item(function: Any, *, path: Path | None = None, fixtures: dict[str, Any] | None = None) -> Any:
    fixtures = fixtures or {}
    defs = {name: [SimpleNamespace(func=func, scope=scope)] for name, (func, scope) in fixtures.items()}
    return SimpleNamespace(
        function=function,
        path=path or TESTS / "test_example.py",
        fixturenames=[*fixtures],
        _fixtureinfo=SimpleNamespace(name2fixturedefs=defs),
    )


def _plain() -> None:
    """The body of a test that uses nothing slow (the classifier reads only its code's names)."""


def _starts_a_worker() -> None:
    with running_worker():
        pass


def _starts_dovecot() -> Dovecot:
    return Dovecot("standard")


def _runs_a_process() -> None:
    subprocess.run(["true"], check=True)


def test_a_plain_test_is_in_no_slow_tier():
    assert tiers_of(fake_item(_plain)) == set()


def test_a_test_that_starts_a_worker_is_in_the_worker_tier():
    assert tiers_of(fake_item(_starts_a_worker)) == {"worker"}


def test_a_fixture_that_starts_dovecot_puts_its_tests_in_the_dovecot_tier():
    item = fake_item(_plain, fixtures={"server": (_starts_dovecot, "module")})
    assert tiers_of(item) == {"dovecot"}


def test_the_session_dovecot_and_the_browser_fixtures_name_their_tiers():
    item = fake_item(
        _plain, fixtures={"dovecot_servers": (_plain, "session"), "browser": (_plain, "session")}
    )
    assert tiers_of(item) == {"dovecot", "browser"}


def test_a_test_that_starts_a_process_is_slow():
    assert tiers_of(fake_item(_runs_a_process)) == {"slow"}


def test_everything_under_tests_chaos_is_chaos_and_runs_in_one_xdist_group():
    item = fake_item(_plain, path=TESTS / "chaos" / "test_example.py")
    assert "chaos" in tiers_of(item)
    assert xdist_group_of(item, tiers_of(item)) == "chaos"


def test_a_module_scoped_fixture_of_the_suite_keeps_its_module_on_one_xdist_worker():
    item = fake_item(_plain, path=TESTS / "imap" / "test_example.py", fixtures={"once": (_plain, "module")})
    assert xdist_group_of(item, set()) == "tests/imap/test_example.py"
    assert xdist_group_of(fake_item(_plain, fixtures={"each": (_plain, "function")}), set()) is None


QUICK = "not browser and not dovecot and not worker and not chaos and not smoke and not matrix and not slow"


def test_a_test_marked_slow_by_hand_is_not_built_for_make_quick():
    assert deselected_whatever_its_tiers(QUICK, {"slow", "django_db"})
    assert deselected_whatever_its_tiers("not django_db", {"django_db"})


def test_a_test_the_tiers_could_still_select_is_built():
    assert not deselected_whatever_its_tiers(QUICK, {"django_db"})  # make quick runs it
    assert not deselected_whatever_its_tiers("", {"slow"})  # no -m: everything
    assert not deselected_whatever_its_tiers("slow", set())  # it may start a process
    assert not deselected_whatever_its_tiers("not slow or dovecot", {"slow"})  # it may use Dovecot
    assert not deselected_whatever_its_tiers("xdist_group", set())  # it may get a group
    assert not deselected_whatever_its_tiers("slow(reason=1)", set())  # arguments: undecided


def test_each_xdist_worker_gets_the_next_redis_database():
    assert redis_url_for_worker("redis://127.0.0.1:6379/10", 0) == "redis://127.0.0.1:6379/10"
    assert redis_url_for_worker("redis://127.0.0.1:6379/10", 1) == "redis://127.0.0.1:6379/11"
    assert redis_url_for_worker("redis://:pw@redis:6379", 2) == "redis://:pw@redis:6379/2"
    assert redis_url_for_worker("filesystem://", 1) == "filesystem://"
    with pytest.raises(pytest.UsageError, match="database 16"):
        redis_url_for_worker("redis://127.0.0.1:6379/14", 2)


def test_the_controller_hands_each_worker_its_redis_urls(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/10")
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    specs = [SimpleNamespace(env={}), SimpleNamespace(env={})]
    pytest_xdist_setupnodes(None, specs)  # type: ignore[arg-type]
    assert [spec.env for spec in specs] == [
        {"REDIS_URL": "redis://127.0.0.1:6379/10"},
        {"REDIS_URL": "redis://127.0.0.1:6379/11"},
    ]


def test_tests_that_share_a_node_id_get_their_names_so_xdist_runs_each():
    same = "tests/api/test_schemathesis.py::test_api"
    items = [
        SimpleNamespace(_nodeid=same, nodeid=same, name="test_api[GET /deals]"),
        SimpleNamespace(_nodeid=same, nodeid=same, name="test_api[GET /leads]"),
        SimpleNamespace(_nodeid="tests/test_a.py::test_a", nodeid="tests/test_a.py::test_a", name="test_a"),
    ]
    pytest_collection_modifyitems(SimpleNamespace(getvalue=lambda name: False), items)  # type: ignore[arg-type]
    assert [item._nodeid for item in items] == [
        "tests/api/test_schemathesis.py::test_api[GET /deals]",
        "tests/api/test_schemathesis.py::test_api[GET /leads]",
        "tests/test_a.py::test_a",
    ]


def test_an_xdist_group_becomes_the_suffix_xdist_schedules_by_on_a_worker(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    group = pytest.mark.xdist_group("chaos").mark
    grouped = SimpleNamespace(_nodeid="tests/chaos/t.py::t", nodeid="tests/chaos/t.py::t", name="t")
    grouped.iter_markers = lambda name: [group] if name == "xdist_group" else []
    alone = SimpleNamespace(_nodeid="tests/t.py::t", nodeid="tests/t.py::t", name="t")
    alone.iter_markers = lambda name: []
    config = SimpleNamespace(getvalue=lambda name: name == "loadgroup")
    pytest_collection_modifyitems(config, [grouped, alone])  # type: ignore[arg-type]
    assert (grouped._nodeid, alone._nodeid) == ("tests/chaos/t.py::t@chaos", "tests/t.py::t")
