"""A realistic rep for locust (issue 23): signs in, reads the Inbox, opens a conversation,
archives one and undoes it, searches, loads more — with 3-10 s between clicks, as a person.

Against the demo data (`seed_demo --conversations 100000`; alice and bob, password
``salesinbox-demo``), headless, e.g. a shift of 200 reps who sign in over two minutes and
then work for three:

    .venv/bin/locust -f bench/locustfile.py --headless -H http://127.0.0.1:8000 \\
        -u 200 -r 1.67 -t 5m --csv var/locust-200

Two windows are measured. The ramp (reps arriving and signing in, as at the start of a
shift) ends when locust has started every rep; with ``REP_LOAD_RAMP_STATS=path`` set, the
ramp's statistics are written there as JSON and then reset, so locust's own CSV (and
``REP_LOAD_STEADY_STATS=path``, written on exit) holds only the steady state that follows,
every rep signed in and working. Sign-in happens in the
ramp only — once per rep, as in a working day.

The reps use ``FastHttpUser`` (geventhttpclient), which costs several times less CPU per
request than ``HttpUser`` (python-requests): the load generator shares the box it measures.

``bench/rep_load.py`` runs it at several sizes against gunicorn and finds the largest
number of reps for which every endpoint's p95 stays at or under 300 ms.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from locust import FastHttpUser, between, events, task
from locust.env import Environment

PASSWORD = "salesinbox-demo"  # noqa: S105  (the demo's printed password)
REPS = ["alice@demo.test", "bob@demo.test"]
SEARCHES = ["pricing", "contract renewal", "Maya Silva", "northwind.test", "questionnaire", "pilot sso"]
ROW_LINK = re.compile(r'href="(/inbox/c/(\d+)/\?folder=inbox)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_ERROR = re.compile(r'class="form-error"[^>]*><p>([^<]*)')
MORE = re.compile(r'hx-get="([^"]*cursor=[^"]+)"')
HTMX = {"HX-Request": "true"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def window_stats(environment: Environment) -> dict[str, dict[str, Any]]:
    """Each endpoint's count, failures and percentiles so far (ms)."""
    endpoints: dict[str, dict[str, Any]] = {}
    stats = environment.stats
    for (name, _method), entry in sorted(stats.entries.items()):
        if not entry.num_requests:
            continue
        endpoints[name] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "median_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "p99_ms": entry.get_response_time_percentile(0.99),
            "max_ms": round(entry.max_response_time or 0),
        }
    return endpoints


@events.init.add_listener
def _window_at_full_strength(environment: Environment, **_kwargs: Any) -> None:
    ramp_target = os.environ.get("REP_LOAD_RAMP_STATS")
    steady_target = os.environ.get("REP_LOAD_STEADY_STATS")
    if not ramp_target:
        return

    def ramp_done(user_count: int, **_kw: Any) -> None:
        # The ramp's figures, then a clean slate for the steady state (what --reset-stats
        # does, but keeping the ramp: it is where every sign-in happens).
        Path(ramp_target).write_text(json.dumps({"reps": user_count, "endpoints": window_stats(environment)}))
        environment.stats.reset_all()

    def steady_done(**_kw: Any) -> None:
        if steady_target and Path(ramp_target).exists():
            Path(steady_target).write_text(json.dumps({"endpoints": window_stats(environment)}))

    environment.events.spawning_complete.add_listener(ramp_done)
    environment.events.quitting.add_listener(steady_done)


def sign_in(user: FastHttpUser) -> None:
    """Sign in as alice or bob through the sign-in form (a real session cookie)."""
    page = user.client.get("/accounts/login/", name="sign-in page")
    token = CSRF.search(page.text or "")
    form = {
        "login": random.choice(REPS),
        "password": PASSWORD,
        "csrfmiddlewaretoken": token.group(1) if token else "",
    }
    with user.client.post(
        "/accounts/login/",
        data=urlencode(form),
        headers={**FORM, "Referer": f"{user.host}/accounts/login/"},
        name="sign-in",
        catch_response=True,
        allow_redirects=False,  # the sign-in alone; the Inbox it leads to is timed as "inbox"
    ) as response:
        # Signed in: a redirect away from the form. A wrong form comes back as the page (200).
        location = response.headers.get("Location", "") if response.headers else ""
        if response.status_code != 302 or "/accounts/login/" in location:
            error = FORM_ERROR.search(response.text or "")
            response.failure(f"not signed in ({response.status_code}: {error.group(1) if error else ''})")
        else:
            response.success()


class Rep(FastHttpUser):
    wait_time = between(3, 10)

    def on_start(self) -> None:
        sign_in(self)
        self.rows: list[tuple[str, str]] = []
        self.more = ""
        self.csrf = ""
        self.inbox()

    def _read_list(self, html: str) -> None:
        self.rows = ROW_LINK.findall(html)
        more = MORE.search(html)
        self.more = more.group(1).replace("&amp;", "&") if more else ""
        token = CSRF.search(html)
        if token:
            self.csrf = token.group(1)

    @task(6)
    def inbox(self) -> None:
        with self.client.get("/inbox/", name="inbox", catch_response=True) as response:
            if '<li id="conv-' not in (response.text or ""):
                response.failure("no rows")
                return
            self._read_list(response.text or "")

    @task(6)
    def open_conversation(self) -> None:
        if not self.rows:
            return
        url, _ = random.choice(self.rows)
        self.client.get(url, name="open conversation")

    @task(2)
    def archive_and_undo(self) -> None:
        if not self.rows or not self.csrf:
            return
        _, conversation_id = random.choice(self.rows)
        headers = {**HTMX, **FORM, "X-CSRFToken": self.csrf, "Referer": f"{self.host}/inbox/"}
        form = {"ids": conversation_id, "folder": "inbox", "csrfmiddlewaretoken": self.csrf}
        self.client.post(
            "/inbox/actions/", data=urlencode({**form, "action": "archive"}), headers=headers, name="archive"
        )
        self.client.post(
            "/inbox/actions/",
            data=urlencode({**form, "action": "unarchive", "undo": "1"}),
            headers=headers,
            name="undo",
        )

    @task(3)
    def search(self) -> None:
        self.client.get("/inbox/?" + urlencode({"q": random.choice(SEARCHES)}), name="search")

    @task(2)
    def load_more(self) -> None:
        if self.more:
            self.client.get(self.more, headers=HTMX, name="load more")
