"""Email HTML as the conversation view shows it: sanitized, framed, remote images held back."""

from __future__ import annotations

from datetime import UTC, datetime

from web.rendering import email_document, initials, safe_email_html, short_time


def test_scripts_handlers_and_forms_are_removed():
    doc = email_document(
        "<p onclick=\"alert(1)\">Hi</p><script>alert(2)</script><form action='https://x.test'>"
        '<input name=q></form><a href="javascript:alert(3)">x</a><svg onload=alert(4)></svg>'
    ).document
    body = doc.split("<body>", 1)[1]
    for bad in ("<script", "onclick", "onload", "<form", "<input", "javascript:", "<svg"):
        assert bad not in body, bad
    assert "<p>Hi</p>" in body


def test_remote_images_are_blocked_and_counted_until_allowed():
    html = '<img src="https://t.test/a.png" alt="a"><img src="http://t.test/b.png"><img src="cid:logo">'
    blocked = email_document(html)
    assert blocked.blocked_images == 2
    assert "t.test" not in blocked.document
    assert "img-src data:;" in blocked.document.replace("&#x27;", "'")
    allowed = email_document(html, allow_images=True)
    assert allowed.blocked_images == 0
    assert 'src="https://t.test/a.png"' in allowed.document
    assert 'src="http://t.test/b.png"' in allowed.document
    assert "cid:" not in allowed.document  # inline parts are not stored: nothing to show


def test_the_frame_document_carries_a_default_none_csp():
    doc = email_document("<p>x</p>").document.replace("&#x27;", "'")
    assert "default-src 'none'" in doc and "form-action 'none'" in doc
    assert '<base target="_blank">' in doc


def test_style_attributes_lose_urls_but_keep_layout():
    doc = email_document(
        '<p style="color:red;background-image:url(https://t.test/x.png);font-weight:bold">x</p>'
        '<div style="background:url(https://t.test/y.png)">y</div>'
    ).document
    assert "t.test" not in doc
    assert "color:red" in doc and "font-weight:bold" in doc


def test_links_open_outside_the_app_without_referrer():
    cleaned = safe_email_html('<a href="https://example.test/page">read</a>')
    assert 'target="_blank"' in cleaned and 'rel="noopener noreferrer"' in cleaned


def test_short_time_reads_like_a_mail_client():
    now = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    assert short_time(datetime(2026, 3, 10, 9, 5, tzinfo=UTC), now) == "09:05"
    assert short_time(datetime(2026, 1, 2, 9, 5, tzinfo=UTC), now) == "Jan 2"
    assert short_time(datetime(2024, 1, 2, 9, 5, tzinfo=UTC), now) == "Jan 2, 2024"


def test_initials():
    assert initials("Anna Berg") == "AB"
    assert initials("anna.berg@x.test") == "AB"
    assert initials("") == "?"
