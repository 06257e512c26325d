"""The page-wide checks (phone width, axe-core, focus rings) walk tests/browser/pages.py:
every page of web/urls must be in that walk, or named here as not a page of its own."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tests.browser.pages import demo_pages

pytestmark = pytest.mark.django_db

# Views of web/ that answer with no page of their own (a fragment, a file, a redirect, JSON)
# or only change something and redirect.
NOT_PAGES = {
    "inbox:bulk_action": "POST, answers the list update fragment",
    "inbox:picker": "fragment: the picker's options",
    "inbox:history": "fragment: a record's History section",
    "inbox:message_body": "the sandboxed mail frame's document (no script of ours, no layout)",
    "inbox:attachment_inline": "an image for the mail frame",
    "inbox:attachments_zip": "a zip download",
    "inbox:nav_counts": "fragment: the sidebar counts",
    "inbox:retry_change": "POST, redirects",
    "inbox:compose_send": "POST, redirects to the conversation",
    "inbox:compose_autosave": "POST, JSON",
    "inbox:compose_suggest": "fragment: recipient suggestions",
    "inbox:draft_discard": "POST, redirects",
    # Not walked: their 409 "Too late" page (inbox/compose_too_late.html, one h1 and a link)
    # needs a message that has already left.
    "inbox:send_undo": "POST, redirects to the draft (or the 409 'Too late' page)",
    "inbox:send_retry": "POST, redirects",
    "inbox:send_edit": "POST, redirects to the draft (or the 409 'Too late' page)",
    "email_sync:account_members": "POST, redirects",
    "email_sync:resume": "POST, redirects",
    "email_sync:retry_change": "POST, redirects",
    "connect:imap": "POST: its errors show the connect page, which is walked",
    "connect:google": "POST, redirects to Google",
    "connect:microsoft": "POST, redirects to Microsoft",
    "connect:google_callback": "redirects to the mailbox's status",
    "connect:microsoft_callback": "redirects to the mailbox's status (or a script-free relay form)",
}


def _web_view_names(patterns: list[URLPattern | URLResolver], namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= _web_view_names(pattern.url_patterns, inner)
        elif pattern.name and getattr(pattern.callback, "__module__", "").startswith("web.views"):
            names.add(f"{namespace}{pattern.name}")
    return names


def test_every_page_of_web_urls_is_walked_by_the_phone_axe_and_focus_checks():
    demo = demo_pages()
    walked = [*demo.paths.values(), *(action for action, _ in demo.posts.values())]
    walked += [action for action, _ in demo.bob_posts.values()]
    walked += [action for action, _ in demo.lite_posts.values()]
    walked += [*demo.lite_paths.values(), *demo.signed_out_paths.values()]
    covered = {resolve(urlsplit(path).path).view_name for path in walked}
    pages = _web_view_names(get_resolver().url_patterns)
    assert pages - set(NOT_PAGES) - covered == set()
    assert set(NOT_PAGES) <= pages, "a name listed here is no longer a view of web/"
