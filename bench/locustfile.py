"""A realistic rep for locust (issue 23): signs in, reads the Inbox, opens a conversation,
archives one and undoes it, searches, loads more — with 3-10 s between clicks, as a person.

Against the demo data (`seed_demo --conversations 100000`; alice and bob, password
``salesinbox-demo``), headless, e.g.:

    .venv/bin/locust -f bench/locustfile.py --headless -H http://127.0.0.1:8000 \\
        -u 200 -r 5 -t 3m --csv var/locust-200

``bench/rep_load.py`` runs it at several sizes against gunicorn and finds the largest
number of reps for which every endpoint's p95 stays at or under 300 ms.
"""

from __future__ import annotations

import random
import re

from locust import FastHttpUser, HttpUser, between, task

PASSWORD = "salesinbox-demo"  # noqa: S105  (the demo's printed password)
REPS = ["alice@demo.test", "bob@demo.test"]
SEARCHES = ["pricing", "contract renewal", "Maya Silva", "northwind.test", "questionnaire", "pilot sso"]
ROW_LINK = re.compile(r'href="(/inbox/c/(\d+)/\?folder=inbox)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
MORE = re.compile(r'hx-get="([^"]*cursor=[^"]+)"')
HTMX = {"HX-Request": "true"}


def sign_in(user: HttpUser | FastHttpUser) -> None:
    """Sign in as alice or bob through the sign-in form (a real session cookie)."""
    page = user.client.get("/accounts/login/", name="sign-in page")
    token = CSRF.search(page.text or "")
    email = random.choice(REPS)
    user.client.post(
        "/accounts/login/",
        {"login": email, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1) if token else ""},
        headers={"Referer": f"{user.host}/accounts/login/"},
        name="sign-in",
    )


class Rep(HttpUser):
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
            if '<li id="conv-' not in response.text:
                response.failure("no rows")
                return
            self._read_list(response.text)

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
        headers = {**HTMX, "X-CSRFToken": self.csrf, "Referer": f"{self.host}/inbox/"}
        form = {"ids": conversation_id, "folder": "inbox", "csrfmiddlewaretoken": self.csrf}
        self.client.post("/inbox/actions/", {**form, "action": "archive"}, headers=headers, name="archive")
        self.client.post(
            "/inbox/actions/", {**form, "action": "unarchive", "undo": "1"}, headers=headers, name="undo"
        )

    @task(3)
    def search(self) -> None:
        self.client.get("/inbox/", params={"q": random.choice(SEARCHES)}, name="search")

    @task(2)
    def load_more(self) -> None:
        if self.more:
            self.client.get(self.more, headers=HTMX, name="load more")
