"""The Inbox page's ceiling for locust (issue 23): signed-in users (alice or bob, through the
sign-in form) that ask for the Inbox again as soon as a page arrives — a closed loop with no
pauses, so the figure is the most pages a second the server gives.

``bench/rep_load.py --ceiling`` runs it against gunicorn ``-w 4`` at several numbers of users.
"""

from __future__ import annotations

import locustfile  # bench/ is on locust's path; only its helpers (a module, not a user class)
from locust import FastHttpUser, constant, task


class InboxReader(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        locustfile.sign_in(self)

    @task
    def inbox(self) -> None:
        with self.client.get("/inbox/", name="inbox", catch_response=True) as response:
            if '<li id="conv-' not in response.text:
                response.failure("no rows")
