"""The Inbox page's ceiling for locust (issue 23): signed-in users (alice or bob, through the
sign-in form) that ask for the Inbox again as soon as a page arrives — a closed loop with no
pauses, so the figure is the most pages a second the server gives.

``bench/rep_load.py --ceiling`` runs it against gunicorn (docker-compose.yml's web command) at several numbers of users.
"""

from __future__ import annotations

import re

import locustfile  # bench/ is on locust's path; only its helpers (a module, not a user class)
from locust import FastHttpUser, constant, task

TITLE = re.compile(r"<title>([^<]*)</title>")


class InboxReader(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        # A sign-in that did not take (a timeout on a saturated box) would leave this user
        # counting sign-in pages as Inbox failures: try again, and say so if it never takes.
        for _ in range(3):
            locustfile.sign_in(self)
            if any(cookie.name == "sessionid" for cookie in self.client.cookiejar):
                return
        raise RuntimeError("sign-in did not give a session")

    @task
    def inbox(self) -> None:
        with self.client.get("/inbox/", name="inbox", catch_response=True) as response:
            if '<li id="conv-' not in (response.text or ""):
                title = TITLE.search(response.text or "")
                response.failure(f"no rows: HTTP {response.status_code} {title.group(1) if title else ''}")
