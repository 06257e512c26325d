"""Content-Security-Policy on every app page: scripts only from our own files or with this
response's nonce, no inline event handlers, never framed; the browser fixtures fail a test
on any violation, and this shows they would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from tests.browser_fixtures import watch_csp
from tests.factories import parsed, receive

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.django_db(transaction=True)


def _policy(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


def test_every_app_page_sends_a_nonce_based_policy_that_forbids_framing(alice, alice_mailbox):
    convo = receive(alice_mailbox, parsed(subject="Hello", to=(alice_mailbox.address,))).conversation_id
    client = Client()
    pages = ["/accounts/login/"]
    client.force_login(alice)
    pages += [
        "/inbox/",
        f"/inbox/c/{convo}/",
        "/inbox/folder/archive/",
        "/inbox/activity/",
        "/settings/email-sync/",
        "/settings/api/",
        "/crm/deal/",
        "/admin/",
    ]
    nonces: list[str] = []
    for path in pages:
        response = client.get(path, follow=True)
        assert response.status_code == 200, path
        policy = _policy(response)
        assert policy["frame-ancestors"] == ["'none'"], path
        assert policy["object-src"] == ["'none'"], path
        script_src = policy["script-src"]
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, path
        html = response.content.decode()
        tags = re.findall(r"<script\b[^>]*>", html)
        ours = [tag for tag in tags if "vendor/htmx" in tag or "js/app" in tag]
        if not ours:  # the admin: its script files are ours ('self'); no inline script passes
            assert not any(s.startswith("'nonce-") for s in script_src), path
            continue
        nonce = next(s for s in script_src if s.startswith("'nonce-"))[len("'nonce-") : -1]
        nonces.append(nonce)
        # Every script tag of our templates carries this response's nonce.
        for tag in ours:
            assert f'nonce="{nonce}"' in tag, (path, tag)
    assert len(nonces) >= len(pages) - 1 and len(set(nonces)) == len(nonces), "a nonce is never reused"


def test_no_template_has_an_inline_event_handler_or_javascript_url():
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for match in re.finditer(r"\son[a-z]+\s*=|javascript:", text, flags=re.IGNORECASE):
            offenders.append(f"{template.relative_to(ROOT)}: {match.group(0).strip()}")
    assert offenders == []


def test_an_injected_inline_script_is_blocked_and_reported(browser, live_server, alice):
    """The fixtures' watcher sees what the policy blocks: a script without the nonce
    does not run, and the violation is collected."""
    client = Client()
    client.force_login(alice)
    context = browser.new_context(base_url=live_server.url)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    violations: list[str] = []
    watch_csp(context, violations)
    page = context.new_page()
    try:
        page.goto("/inbox/")
        page.evaluate(
            """() => { const s = document.createElement('script');
                       s.textContent = 'window.__injected = true'; document.body.append(s); }"""
        )
        assert page.evaluate("() => window.__injected") is None
        page.wait_for_function("() => true")
        # The violation event is queued as a task: wait for it, do not sleep.
        page.evaluate("() => new Promise(r => setTimeout(r, 0))")
        assert any("script-src" in v for v in violations), violations
        # A button with an inline handler does nothing either.
        page.evaluate(
            """() => { const b = document.createElement('button'); b.id = 'evil';
                       b.setAttribute('onclick', 'window.__clicked = true'); document.body.append(b); }"""
        )
        page.click("#evil")
        assert page.evaluate("() => window.__clicked") is None
    finally:
        context.close()


def test_admin_and_settings_pages_load_under_the_policy(open_as, alice):
    """Django's admin ships no inline script; open_as fails the test on any violation."""
    page = open_as(alice, "/admin/")
    assert page.locator("#content").count() == 1
    page.goto("/settings/email-sync/")
    page.goto("/settings/api/")
