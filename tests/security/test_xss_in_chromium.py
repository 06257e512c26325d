"""The hostile-HTML corpus through the real pipeline, opened in Chromium.

Every vector is sent as a raw MIME message, parsed and stored by ``sync.store`` and shown
by the conversation view in its sandboxed, CSP'd frame. Each vector's script would call a
canary server on 127.0.0.1 and each of its URLs points there: on a default open no request
may leave the app (the browser's own request log and the canary's both stay empty).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inbox.models import Conversation, Message
from inbox.types import RefData
from sync.store import StoreOutcome, store_raw_message
from tests.security.xss_vectors import COUNT, vectors

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def canary() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def _raw(index: int, html: str, to: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Mallory <mallory@evil.test>"
    message["To"] = to
    message["Subject"] = "Hostile HTML"
    message["Message-ID"] = f"<xss-{index}@evil.test>"
    message["Date"] = "Mon, 02 Mar 2026 10:00:00 +0000"
    if index:
        message["In-Reply-To"] = "<xss-0@evil.test>"
        message["References"] = "<xss-0@evil.test>"
    message.set_content("plain part")
    message.add_alternative(html, subtype="html")
    return message.as_bytes()


def test_no_vector_runs_script_or_makes_a_request_on_a_default_open(open_as, alice, alice_mailbox, canary):
    host, hits = canary
    for index, html in enumerate(vectors(host)):
        ref = RefData(key=f"imap:INBOX:1:{index + 1}", folder="INBOX", uidvalidity=1, uid=index + 1)
        assert store_raw_message(alice_mailbox, _raw(index, html, alice_mailbox.address), ref) == (
            StoreOutcome.CREATED
        )
    conversation = Conversation.objects.get(account=alice_mailbox)
    assert Message.objects.filter(conversation=conversation).exclude(html="").count() == COUNT

    page = open_as(alice, "/inbox/", height=4000)
    page.set_default_timeout(60_000)  # 166 frames take a headless Chromium several seconds
    requests: list[str] = []
    page.context.on("request", lambda request: requests.append(request.url))
    page.goto(f"/inbox/c/{conversation.pk}/", wait_until="load")
    frames = page.locator("iframe.mailframe")
    assert frames.count() == COUNT
    for sandbox in frames.evaluate_all("fs => [...new Set(fs.map(f => f.getAttribute('sandbox')))]"):
        tokens = set(sandbox.split())
        assert not tokens & {"allow-scripts", "allow-same-origin", "allow-forms", "allow-top-navigation"}
    # Load handlers, meta refresh 0 and autofocus run as each frame loads: wait for every
    # frame's load event, then hover (Playwright returns once the renderer handled the move),
    # then for the network to go quiet — what a vector started shows up by then.
    for frame in page.frames:
        frame.wait_for_load_state("load")
    page.mouse.move(300, 300)
    page.mouse.move(600, 900)
    page.wait_for_load_state("networkidle")

    app = page.url.split("/inbox/", 1)[0]
    left = [url for url in requests if not url.startswith(app) and not url.startswith("data:")]
    assert left == []
    assert hits == []
    # The frames did render the harmless parts: the sanitizer did not just drop everything.
    assert page.frame_locator("iframe.mailframe").nth(COUNT - 1).locator("a").count() == 1
    # And the two detectors work: a request a page of the context makes shows up in both. (Made
    # from a blank page: the app's own Content-Security-Policy refuses connections elsewhere.)
    probe = page.context.new_page()
    with probe.expect_request_finished(lambda request: request.url == f"{host}/probe"):
        probe.evaluate("url => fetch(url, {mode: 'no-cors'}).catch(() => null)", f"{host}/probe")
    assert hits == ["/probe"] and requests[-1] == f"{host}/probe"
