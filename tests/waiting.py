"""Waiting in the tests (and in scripts/chaos.py): poll a condition until it holds, never sleep
a fixed time.

* ``wait_for(predicate, what, timeout=…)`` returns as soon as ``predicate()`` is true and
  raises ``TimeoutError`` naming ``what`` when it is still false after ``timeout`` seconds.
* ``wait_until(predicate, timeout=…)`` answers True or False, for ``assert wait_until(…)``
  (pytest then shows the condition that never held).

A predicate may raise to stop the wait early (a server or worker that exited).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    predicate: Callable[[], object], what: str = "", *, timeout: float = 60, interval: float = 0.2
) -> None:
    """Poll ``predicate`` every ``interval`` s; asked once more after the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what or repr(predicate)} after {timeout:.0f} s")
        time.sleep(interval)


def wait_until(predicate: Callable[[], object], *, timeout: float = 30, interval: float = 0.2) -> bool:
    """``wait_for`` as an answer: whether ``predicate`` held within ``timeout`` seconds."""
    try:
        wait_for(predicate, timeout=timeout, interval=interval)
    except TimeoutError:
        return False
    return True
