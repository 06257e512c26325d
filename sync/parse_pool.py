"""MIME parsing in worker processes, overlapped with fetching and storing.

Parsing is pure-Python CPU work (the ``email`` package: 2–5 ms per ordinary message) and
was most of a first sync's time once ingest went bulk. ``start_parsing`` hands a fetched
group to a small process pool and returns at once, so the pull fetches the next group (and
stores the previous one) while the workers parse; ``ParseJob.results`` collects them.

Small groups (an incremental pull) are parsed inline: a pool only pays for big imports.
A pool that cannot start (no ``fork``, a sandbox) or that breaks (a worker
killed) is given up for the inline parse: the outcome is the same, only slower.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from inbox.services.ingest import prepare
from inbox.types import ParsedMessage
from sync.mime import parse_message

logger = logging.getLogger(__name__)

# Workers: the machine's cores, at most 2 (PostgreSQL and the IMAP server need CPU too).
WORKERS = min(2, os.cpu_count() or 1)
# Groups smaller than this are parsed inline.
POOL_MIN_GROUP = 100
_CHUNK = 25  # messages per task sent to a worker

_pool: ProcessPoolExecutor | None = None
_pool_failed = False


@dataclass(frozen=True)
class ParseInput:
    raw: bytes
    own_addresses: tuple[str, ...]
    fallback_date: object = None
    headers_only_reason: str = ""
    is_read: bool = False
    incoming: bool | None = None


def parse_one(item: ParseInput) -> ParsedMessage | str:
    """The parsed message, or why it could not be parsed (the caller quarantines it)."""
    try:
        parsed = parse_message(
            item.raw,
            own_addresses=item.own_addresses,
            fallback_date=item.fallback_date,  # type: ignore[arg-type]
            headers_only=bool(item.headers_only_reason),
            is_read=item.is_read,
        )
    except Exception as exc:
        return f"could not be parsed: {exc.__class__.__name__}: {exc}"
    if item.headers_only_reason:
        parsed.problems.insert(0, item.headers_only_reason)
    if item.incoming is not None:
        parsed.incoming = item.incoming
    try:
        # The ingest's per-message part, here: in a worker, it runs beside the store thread.
        parsed.prepared = prepare(parsed)
    except Exception:  # the ingest computes it again and fails (or quarantines) there
        parsed.prepared = None
    return parsed


def _parse_chunk(items: list[ParseInput]) -> list[ParsedMessage | str]:
    return [parse_one(item) for item in items]


def _die_with_parent() -> None:
    """A forked worker holds copies of the parent's sockets (PostgreSQL, IMAP): if the parent
    is killed, the worker must go too, or PostgreSQL keeps seeing the parent's session."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _get_pool() -> ProcessPoolExecutor | None:
    global _pool, _pool_failed
    if _pool is not None or _pool_failed or WORKERS < 2:
        return _pool
    if multiprocessing.current_process().daemon:
        # A process of Celery's prefork pool (docker-compose.yml's worker-pull) is daemonic
        # and may not start children; the pool spawns its workers on the first submit, so
        # this is the only place to tell. Parallelism there comes from the worker pool itself.
        logger.info("MIME parsing stays in-process: a daemonic process cannot start a pool")
        _pool_failed = True
        return None
    try:
        # fork: spawn and forkserver re-import the main module in each worker, and ours
        # (manage.py, celery, a bench script) set up Django and more at import. A forked
        # worker only runs parse_message: it never touches the inherited database socket.
        context = multiprocessing.get_context("fork")
        _pool = ProcessPoolExecutor(max_workers=WORKERS, mp_context=context, initializer=_die_with_parent)
    except (OSError, ValueError) as exc:
        logger.warning("MIME parsing stays in-process: no worker pool (%r)", exc)
        _pool_failed = True
    return _pool


def start() -> None:
    """Fork the workers now, if big groups are parsed in a pool here at all (an idempotent
    no-op otherwise). A pull that may hand the pool a big group calls this before it starts
    a thread of its own (``sync.store.BackgroundStore``): the pool forks its workers on its
    first task, and a fork copies every lock another thread holds at that moment (a psycopg
    connection's, logging's) into the child, locked for ever. Forked here, the workers are
    copies of a process with one thread."""
    pool = _get_pool()
    if pool is None:
        return
    try:
        # With fork, the pool starts all its workers at the first submit, in this thread.
        pool.submit(int)
    except (BrokenProcessPool, RuntimeError, OSError, AssertionError) as exc:
        logger.warning("MIME parsing pool could not start (%r): parsing in-process", exc)
        _drop_pool()


def _drop_pool() -> None:
    """A broken pool is not started again in this process: parsing stays inline."""
    global _pool, _pool_failed
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool = None
    _pool_failed = True


def shutdown() -> None:
    """Stop the workers, if any were started; the next big group starts new ones.

    For processes that outlive their pulls with other children of their own (the test
    suite's workers drive a browser through a pipe): a forked worker holds copies of every
    descriptor its parent had, so the other end of such a pipe never sees it close.
    """
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
    _pool = None


@dataclass
class ParseJob:
    items: Sequence[ParseInput]
    futures: list[Future[list[ParsedMessage | str]]] = field(default_factory=list)

    def results(self) -> list[ParsedMessage | str]:
        if self.futures:
            try:
                return [parsed for future in self.futures for parsed in future.result()]
            except (BrokenProcessPool, OSError) as exc:
                logger.warning("MIME parsing pool broke (%r): parsing this group in-process", exc)
                _drop_pool()
        return [parse_one(item) for item in self.items]


def start_parsing(items: Sequence[ParseInput]) -> ParseJob:
    job = ParseJob(items)
    pool = _get_pool() if len(items) >= POOL_MIN_GROUP else None
    if pool is not None:
        try:
            job.futures = [
                pool.submit(_parse_chunk, list(items[start : start + _CHUNK]))
                for start in range(0, len(items), _CHUNK)
            ]
        except (BrokenProcessPool, RuntimeError, OSError, AssertionError) as exc:
            # AssertionError: multiprocessing refused to start the workers (a daemonic process).
            logger.warning("MIME parsing pool refused work (%r): parsing in-process", exc)
            _drop_pool()
            job.futures = []
    return job
