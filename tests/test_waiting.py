"""The suite's one polling helper (tests/waiting.py): it waits for a condition, not a time."""

from __future__ import annotations

import itertools

import pytest

from tests.waiting import wait_for, wait_until


def test_wait_for_returns_once_the_condition_holds() -> None:
    asked = itertools.count(1)
    wait_for(lambda: next(asked) >= 3, "the third look", timeout=30, interval=0)
    assert next(asked) == 4


def test_wait_for_names_what_never_happened() -> None:
    with pytest.raises(TimeoutError, match="gave up waiting for alice's reply after 0 s"):
        wait_for(lambda: False, "alice's reply", timeout=0, interval=0)


def test_wait_for_stops_early_when_the_condition_raises() -> None:
    def exited() -> bool:
        raise RuntimeError("bob's server exited")

    with pytest.raises(RuntimeError, match="bob's server exited"):
        wait_for(exited, "bob's server", timeout=30)


def test_wait_until_answers_whether_the_condition_held() -> None:
    asked = itertools.count(1)
    assert wait_until(lambda: next(asked) >= 2, timeout=30, interval=0)
    assert not wait_until(lambda: False, timeout=0, interval=0)
