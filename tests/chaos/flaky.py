"""The fake Gmail and Microsoft Graph servers of tests/fakes, answering a share of all calls
with 429 (with Retry-After) or 500 — at random, seeded — and logging, per call, when it
came, which messages it was about and what it was answered. From that log a test can tell
whether a message was asked about again before the Retry-After it was given had passed.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fakes import gmail_server, graph_server
from tests.fakes.gmail_server import FakeGmail
from tests.fakes.graph_server import FakeMicrosoft
from tests.ports import http_server


@dataclass
class Hit:
    at: float  # time.monotonic()
    server: str
    endpoint: str
    ids: tuple[str, ...]
    status: int
    retry_after: float | None


@dataclass
class FaultPlan:
    """``rate`` of all calls fail: half 429 with Retry-After ``retry_after`` s, half 500."""

    rate: float = 0.3
    retry_after: int = 2
    seed: int = 4
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


class HitLog:
    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self.injected = 0

    def add(self, hit: Hit) -> None:
        with self.lock:
            self.hits.append(hit)

    def calls(self) -> int:
        return len(self.hits)

    def early_retries(self) -> list[str]:
        """Every case of a message asked about again sooner than its Retry-After allowed."""
        early = []
        last_throttle: dict[str, tuple[float, float]] = {}  # id -> (until, when)
        for hit in sorted(self.hits, key=lambda h: h.at):
            for message in hit.ids:
                until = last_throttle.get(message)
                # 50 ms of slack: the client's clock and ours are the same monotonic clock,
                # but a response is logged just after it was written.
                if until is not None and hit.at < until[0] - 0.05:
                    history = [
                        f"{h.endpoint}:{h.status}@{h.at - until[1]:+.2f}"
                        for h in self.hits
                        if message in h.ids
                    ]
                    early.append(
                        f"{hit.server} {hit.endpoint} {message}: {until[0] - hit.at:.2f} s early; {history}"
                    )
            if hit.status == 429 and hit.retry_after:
                for message in hit.ids:
                    last_throttle[message] = (hit.at + hit.retry_after, hit.at)
        return early

    def throttled(self) -> int:
        return sum(1 for h in self.hits if h.status == 429)

    def server_errors(self) -> int:
        return sum(1 for h in self.hits if h.status >= 500)


def _pick_fault(plan: FaultPlan) -> tuple[int, str | None] | None:
    if plan.rng.random() >= plan.rate:
        return None
    if plan.rng.random() < 0.5:
        return 429, str(plan.retry_after)
    return 500, None


_GMAIL_IDS = re.compile(r"/messages/([0-9a-f]{8,})")


class FlakyGmail(FakeGmail):
    def __init__(self, plan: FaultPlan) -> None:
        super().__init__()
        self.plan = plan
        self.log = HitLog()

    def start(self) -> FlakyGmail:
        self._httpd = http_server(gmail_server._handler_for(self), ThreadingHTTPServer)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="flaky-gmail", daemon=True)
        self._thread.start()
        return self

    def _take_fault(self, endpoint: str, in_batch: bool) -> gmail_server.Fault | None:
        scripted = super()._take_fault(endpoint, in_batch)
        if scripted is not None:
            return scripted
        with self.lock:
            picked = _pick_fault(self.plan)
        if picked is None:
            return None
        self.log.injected += 1
        status, retry_after = picked
        reason = "rateLimitExceeded" if status == 429 else "backendError"
        return gmail_server.Fault(endpoint, status, 1, retry_after, reason, in_batch)

    def _api(  # type: ignore[no-untyped-def]
        self, method, path, query, headers, body, *, in_batch
    ) -> gmail_server.Response:
        response = super()._api(method, path, query, headers, body, in_batch=in_batch)
        ids = tuple(_GMAIL_IDS.findall(path))
        if not ids and body.strip():
            try:
                ids = tuple(json.loads(body).get("ids") or ())
            except (ValueError, AttributeError):
                ids = ()
        self._note("api", gmail_server._route(method, path)[0], ids, response)
        return response

    def _batch(self, path: str, headers: dict[str, str], body: bytes) -> gmail_server.Response:
        response = super()._batch(path, headers, body)
        # A refused batch concerns every message in it; an answered one is logged part by part.
        ids = tuple(_GMAIL_IDS.findall(body.decode(errors="replace"))) if response[0] != 200 else ()
        self._note("batch", "batch", ids, response)
        return response

    def _note(self, kind: str, endpoint: str, ids: tuple[str, ...], response: gmail_server.Response) -> None:
        status, headers, _ = response
        retry_after = headers.get("Retry-After")
        self.log.add(
            Hit(
                time.monotonic(),
                "gmail",
                endpoint,
                ids,
                status,
                float(retry_after) if retry_after else None,
            )
        )


_GRAPH_IDS = re.compile(r"/messages/([^/?]+)")


class FlakyMicrosoft(FakeMicrosoft):
    def __init__(self, ca: Any, plan: FaultPlan) -> None:
        super().__init__(ca)
        self.plan = plan
        self.log = HitLog()

    def _take_fault(self, op: str) -> graph_server.Fault | None:
        scripted = super()._take_fault(op)
        if scripted is not None:
            return scripted
        with self._lock:
            picked = _pick_fault(self.plan)
        if picked is None:
            return None
        self.log.injected += 1
        status, retry_after = picked
        code = "ApplicationThrottled" if status == 429 else "InternalServerError"
        return graph_server.Fault(op, 1, status, retry_after, code)

    def _run(self, mailbox, op, method, path, headers, runner, *, in_batch):  # type: ignore[no-untyped-def]
        status, out_headers, out = super()._run(mailbox, op, method, path, headers, runner, in_batch=in_batch)
        self._note(op, tuple(_GRAPH_IDS.findall(path)), status, out_headers)
        return status, out_headers, out

    def _batch(self, user: str, headers: dict[str, str], body: bytes) -> graph_server.Response:
        response = super()._batch(user, headers, body)
        ids: tuple[str, ...] = ()
        if response[0] != 200:  # a refused batch concerns every message in it
            try:
                urls = [str(part.get("url", "")) for part in json.loads(body)["requests"]]
            except (ValueError, KeyError, TypeError):
                urls = []
            ids = tuple(i for url in urls for i in _GRAPH_IDS.findall("/" + url.lstrip("/")))
        self._note("batch", ids, response[0], response[1])
        return response

    def _note(self, op: str, ids: tuple[str, ...], status: int, headers: dict[str, str]) -> None:
        retry_after = headers.get("Retry-After")
        self.log.add(
            Hit(
                time.monotonic(),
                "graph",
                op,
                tuple(urllib.parse.unquote(i) for i in ids),
                status,
                float(retry_after) if retry_after else None,
            )
        )
