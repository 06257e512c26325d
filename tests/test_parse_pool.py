"""MIME parsing for big groups (sync/parse_pool.py) inside the processes that really run pulls.

Celery's prefork pool — the one docker-compose.yml's ``worker-pull`` runs — makes each pool
process daemonic, and a daemonic process may not start children: a first sync's parse pool
could not start there, and the pull failed at its first group of 100 messages.
"""

from __future__ import annotations

import multiprocessing

from sync import parse_pool
from sync.parse_pool import POOL_MIN_GROUP, ParseInput, start_parsing


def _raw(n: int) -> bytes:
    return (
        f"From: Maria <maria@northwind.test>\r\nTo: alice@acme.test\r\nSubject: Quote {n}\r\n"
        f"Message-ID: <quote-{n}@northwind.test>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\n"
        "Could you send the price for 25 seats?\r\n"
    ).encode()


def _parse_big_group(results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    # A fresh module state, as in a newly forked pool process.
    parse_pool._pool, parse_pool._pool_failed = None, False
    items = [ParseInput(raw=_raw(n), own_addresses=("alice@acme.test",)) for n in range(POOL_MIN_GROUP)]
    try:
        parsed = start_parsing(items).results()
        results.put(sorted(p.subject for p in parsed if not isinstance(p, str)))
    except BaseException as exc:
        results.put(f"{exc.__class__.__name__}: {exc}")


def test_a_big_group_is_parsed_inside_a_daemonic_pool_process_as_celery_prefork_runs_pulls():
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    worker = context.Process(target=_parse_big_group, args=(results,), daemon=True)
    worker.start()
    outcome = results.get(timeout=120)
    worker.join(timeout=30)
    assert outcome == sorted(f"Quote {n}" for n in range(POOL_MIN_GROUP))
