"""Markers for the slow tiers, put on every test by what it uses, so a new test gets them
without anyone remembering to: ``make quick`` deselects them, ``make test`` runs them all.

- ``browser``: asks for the ``browser`` fixture (Chromium through Playwright);
- ``dovecot``: reaches a real IMAP server (the session's ``dovecot_servers``, or a test or
  fixture that starts a Dovecot/Cyrus of its own);
- ``worker``: starts a Celery worker process (``running_worker`` in the test or a fixture);
- ``chaos``: everything under tests/chaos (own Redis, Dovecot, workers and beat);
- ``slow``: starts another process (``subprocess``: a fresh Python that sets Django up takes
  seconds), or is marked so by hand (the schema fuzzing);
- ``smoke`` (tests/production) and ``matrix`` are set by their modules.

"Uses" means: the fixture is in the test's closure, or the test function or one of its
fixtures' functions names the class or function (its code's global names, resolved).

Under pytest-xdist (``--dist loadgroup``) the same hook keeps together what must run in one
process: the chaos runs (one group: they kill workers and restart servers, and time what
they see) and every module whose tests share a module-scoped fixture of the suite (a
scenario run once, a worker started once), which would otherwise be set up once per worker.

A test function whose own marks (with its module's and class's) already put it out of the
``-m`` selection, whatever tiers it would get here, is not built at all: schemathesis builds
one test per API operation while collecting, seconds of CPU in every xdist worker, only for
``make quick`` to deselect them (they are ``slow``). Without ``-m`` nothing changes.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent.parent
SLOW_TIERS = ("browser", "dovecot", "worker", "chaos", "smoke", "matrix", "slow")

_BROWSER_FIXTURES = {"browser"}
_DOVECOT_FIXTURES = {"dovecot_servers", "chaos_dovecot"}
_WORKER_FIXTURES = {"worker"}


def _functions(item: pytest.Item) -> Iterator[Any]:
    """The test function and the functions of every fixture it uses."""
    function = getattr(item, "function", None)
    if function is not None:
        yield function
    info = getattr(item, "_fixtureinfo", None)
    for defs in info.name2fixturedefs.values() if info else ():
        for fixturedef in defs:
            yield fixturedef.func


def _named_globals(function: Any) -> Iterator[Any]:
    """The module-level objects a function's code refers to (nested code objects included)."""
    function = inspect.unwrap(function)
    code = getattr(function, "__code__", None)
    namespace = getattr(function, "__globals__", {})
    stack = [code] if code is not None else []
    while stack:
        current = stack.pop()
        for name in current.co_names:
            if name in namespace:
                yield namespace[name]
        stack.extend(const for const in current.co_consts if inspect.iscode(const))


_PROCESS_STARTERS = {
    id(f) for f in (subprocess.run, subprocess.Popen, subprocess.check_output, subprocess.call)
}


def _starts(item: pytest.Item) -> tuple[bool, bool, bool]:
    """(starts a Dovecot/Cyrus, a Celery worker, any other process) — by the code it runs."""
    dovecot = worker = process = False
    for function in _functions(item):
        d, w, p = _function_starts(function)
        dovecot, worker, process = dovecot or d, worker or w, process or p
    return dovecot, worker, process


@functools.cache
def _function_starts(function: Any) -> tuple[bool, bool, bool]:
    """``_starts`` for one function: the same fixture functions come back for most of the
    suite's 1,400 tests, and their code does not change during a run."""
    from tests.imap.dovecot import Dovecot
    from tests.imap.servers.cyrus import Cyrus
    from tests.worker import running_worker

    dovecot = worker = process = False
    for target in _named_globals(function):
        if isinstance(target, type) and issubclass(target, Dovecot | Cyrus):
            dovecot = True
        elif target is running_worker:
            worker = True
        elif target is subprocess or id(target) in _PROCESS_STARTERS:
            process = True
    return dovecot, worker, process


def tiers_of(item: pytest.Item) -> set[str]:
    """The slow tiers a collected test belongs to (besides the markers it carries)."""
    names = set(getattr(item, "fixturenames", ()))
    tiers = set()
    if _resolved(str(item.path)).is_relative_to(TESTS / "chaos"):
        tiers |= {"chaos", "worker", "dovecot"}
    if names & _BROWSER_FIXTURES:
        tiers.add("browser")
    if names & _WORKER_FIXTURES:
        tiers.add("worker")
    if names & _DOVECOT_FIXTURES:
        tiers.add("dovecot")
    starts_dovecot, starts_worker, starts_process = _starts(item)
    if starts_dovecot:
        tiers.add("dovecot")
    if starts_worker:
        tiers.add("worker")
    if starts_process:
        tiers.add("slow")
    return tiers


def xdist_group_of(item: pytest.Item, tiers: set[str]) -> str | None:
    """The pytest-xdist group a test must run in (None: any worker)."""
    if "chaos" in tiers:
        return "chaos"
    info = getattr(item, "_fixtureinfo", None)
    for defs in info.name2fixturedefs.values() if info else ():
        for fixturedef in defs:
            if fixturedef.scope in ("module", "class") and _in_the_suite(fixturedef.func):
                return _resolved(str(item.path)).relative_to(TESTS.parent).as_posix()
    return None


@functools.cache
def _resolved(path: str) -> Path:
    return Path(path).resolve()


@functools.cache
def _in_the_suite(function: Any) -> bool:
    """The function is defined under tests/ (not by pytest, pytest-django or another plugin)."""
    return _resolved(inspect.getsourcefile(function) or "").is_relative_to(TESTS)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker and xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        present = {mark.name for mark in item.iter_markers()}
        tiers = tiers_of(item) | present
        for tier in sorted(tiers - present):
            item.add_marker(getattr(pytest.mark, tier))
        if item.get_closest_marker("xdist_group") is None and (group := xdist_group_of(item, tiers)):
            item.add_marker(pytest.mark.xdist_group(group))


# The marks pytest_collection_modifyitems may add to a built test.
_ADDED_LATER = (*SLOW_TIERS, "xdist_group")


def deselected_whatever_its_tiers(markexpr: str, marks: Iterable[str]) -> bool:
    """True when the ``-m`` expression rejects a test with these marks, and would still reject
    it with any of the marks this plugin adds (a slow tier, an xdist group).
    An expression that asks about a mark's arguments is never decided here."""
    return bool(markexpr) and _deselected(markexpr, frozenset(marks))


@functools.cache
def _deselected(markexpr: str, marks: frozenset[str]) -> bool:
    from _pytest.mark.expression import Expression

    try:
        expression = Expression.compile(markexpr)
        return not any(
            expression.evaluate(_Matcher(marks.union(added)))
            for count in range(len(_ADDED_LATER) + 1)
            for added in itertools.combinations(_ADDED_LATER, count)
        )
    except (SyntaxError, _Undecided):  # pytest reports a bad expression itself
        return False


class _Undecided(Exception):
    pass


class _Matcher:
    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def __call__(self, name: str, /, **kwargs: object) -> bool:
        if kwargs:
            raise _Undecided(name)
        return name in self.names


@pytest.hookimpl(wrapper=True, tryfirst=True)  # around schemathesis's wrapper, which builds its own
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Iterator[None]:
    """Nothing, for a test function ``-m`` deselects by its static marks (see the docstring
    of this module); otherwise what pytest (or schemathesis) made of it."""
    result = yield
    if not (inspect.isfunction(obj) and collector.funcnamefilter(name)):  # type: ignore[attr-defined]
        return result
    from _pytest.mark.structures import get_unpacked_marks

    marks = [mark.name for mark in get_unpacked_marks(obj)]
    marks += [mark.name for mark in collector.iter_markers()]
    if deselected_whatever_its_tiers(collector.config.option.markexpr, marks):
        return []
    return result
