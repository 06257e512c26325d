"""pytest-xdist: every worker process gets its own Redis database and so its own broker
queues, cache and locks (pytest-django already gives each worker its own test database,
``test_<name>_gw<N>``). Servers the suite starts (Dovecot, Cyrus, the fake Google and
Microsoft, live_server) bind port 0 and keep their directories under tmp paths, so they are
per worker by construction.

The controller computes each worker's URLs before starting it (execnet's ``env:`` of the
worker's spec): Django's settings read REDIS_URL when pytest-django sets Django up, which
is before any conftest of the worker could change it.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest

# Environment variables holding a Redis URL whose database number is shifted per worker.
REDIS_VARIABLES = ("REDIS_URL", "CELERY_BROKER_URL")
REDIS_DATABASES = 16  # redis.conf's default `databases`


def redis_url_for_worker(url: str, index: int) -> str:
    """``url`` with its database number moved ``index`` up: worker gw1 of
    ``redis://host:6379/10`` uses ``redis://host:6379/11``."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or index == 0:
        return url
    base = int(parts.path.lstrip("/") or 0)
    database = base + index
    if database >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"{url}: worker {index} would need Redis database {database}; pick a lower "
            f"database in REDIS_URL or fewer workers (-n)"
        )
    return parts._replace(path=f"/{database}").geturl()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: list[Any]) -> None:
    for index, spec in enumerate(specs):
        for name in REDIS_VARIABLES:
            if name in os.environ and name not in spec.env:
                spec.env[name] = redis_url_for_worker(os.environ[name], index)


def set_nodeid(item: Any, nodeid: str) -> None:
    """pytest 9 keeps a node's id as ``item._id`` (a NodeId); before, as ``item._nodeid``."""
    if hasattr(item, "_id"):
        from _pytest.nodeid import coerce_node_id

        item._id = coerce_node_id(nodeid)
    else:
        item._nodeid = nodeid


@pytest.hookimpl(trylast=True)  # after tests/plugins/tiers.py put on the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """What xdist schedules by: node ids.

    - One node id per test. schemathesis gives every operation's test the same one (the
      operation is only in ``item.name``); xdist's scheduling keeps one test per id, so 32
      of the 33 would silently not run. Such tests get their name as the last part.
    - ``--dist loadgroup`` sends the tests whose id ends in ``@<group>`` to one worker.
      xdist 3.8 appends the suffix by setting ``item._nodeid``, which pytest 9 no longer
      reads (it keeps ``item._id``): grouping did nothing. Done here instead.
    """
    seen = Counter(item.nodeid for item in items)
    for item in items:
        if seen[item.nodeid] > 1:
            set_nodeid(item, f"{item.nodeid.rsplit('::', 1)[0]}::{item.name}")
    if not (os.environ.get("PYTEST_XDIST_WORKER") and _option(config, "loadgroup")):
        return
    for item in items:
        groups = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if groups and "@" not in item.nodeid:
            set_nodeid(item, f"{item.nodeid}@{'_'.join(sorted(groups))}")


def _option(config: pytest.Config, name: str) -> object:
    try:
        return config.getvalue(name)
    except ValueError:  # xdist is not installed
        return None


def worker_index() -> int:
    """0 outside xdist, N in worker gwN."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
