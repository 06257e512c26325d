"""The email HTML sanitizer against the project's hostile-HTML corpus (tests/security/xss_vectors.py).

Structural checks on every vector: what comes out of ``email_document`` has no element
that runs script or fetches, no event handler, no URL attribute but absolute http(s),
mailto and tel links, no CSS that names a URL, and every link opens outside the app
without opener or referrer. The same corpus is opened in Chromium in test_xss_in_chromium.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.security.xss_vectors import COUNT, vectors
from web.rendering import email_document

CANARY = "http://canary.test"
# Elements that may run script, fetch something, submit, navigate or re-base the frame.
FORBIDDEN_TAGS = {
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input",
    "button", "textarea", "select", "meta", "base", "link", "svg", "math", "video", "audio",
    "source", "track", "picture", "portal", "image", "isindex", "keygen", "template", "noscript",
    "dialog", "area", "map", "marquee", "xss", "custom-el", "slot", "plaintext", "xmp", "body", "html",
}  # fmt: skip
URL_ATTRIBUTES = {"src", "srcset", "background", "poster", "action", "formaction", "data", "ping", "dynsrc",
                  "lowsrc", "codebase", "xlink:href", "cite", "longdesc", "usemap"}  # fmt: skip
SAFE_SCHEMES = ("http://", "https://", "mailto:", "tel:")
CSS_FETCHES = ("url(", "expression", "@import", "\\", "image-set", "behavior", "binding")


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def _body_elements(html: str, *, allow_images: bool = False) -> list[tuple[str, dict[str, str | None]]]:
    document = email_document(html, allow_images=allow_images).document
    parser = _Elements()
    parser.feed(document.split("<body>", 1)[1])
    return parser.elements


def _problems(elements: list[tuple[str, dict[str, str | None]]], *, allow_images: bool) -> list[str]:
    found = []
    for tag, attrs in elements:
        if tag in FORBIDDEN_TAGS:
            found.append(f"<{tag}>")
        for name, value in attrs.items():
            value = value or ""
            if name.startswith("on"):
                found.append(f"handler {name}")
            elif name == "src" and tag == "img" and allow_images:
                if not value.startswith(("http://", "https://")):
                    found.append(f"img src {value!r}")
            elif name in URL_ATTRIBUTES:
                found.append(f"{tag} {name}={value!r}")
            elif name == "href" and not value.startswith(SAFE_SCHEMES):
                found.append(f"href {value!r}")
            elif name == "style" and any(bad in value.lower() for bad in CSS_FETCHES):
                found.append(f"style {value!r}")
            elif name == "style" and "position" in value.lower():
                found.append(f"style escapes the box {value!r}")
        if tag == "a" and (attrs.get("rel") != "noopener noreferrer" or attrs.get("target") != "_blank"):
            found.append(f"link without rel/target: {attrs}")
    return found


def test_the_corpus_has_more_than_a_hundred_vectors():
    assert COUNT >= 100


@pytest.mark.parametrize("allow_images", [False, True], ids=["default", "images-shown"])
def test_no_vector_keeps_script_handlers_or_fetching_urls(allow_images):
    failures = {}
    for index, vector in enumerate(vectors(CANARY)):
        problems = _problems(_body_elements(vector, allow_images=allow_images), allow_images=allow_images)
        if problems:
            failures[index] = (vector[:80], problems)
    assert failures == {}


def test_the_checker_would_catch_a_handler_or_a_script():
    # Guard against a checker that finds nothing: raw hostile markup must trip it.
    parser = _Elements()
    parser.feed('<img src="http://x.test/a" onerror="x()"><script></script><a href="javascript:x()">')
    problems = _problems(parser.elements, allow_images=False)
    assert "handler onerror" in problems and "<script>" in problems and "href 'javascript:x()'" in problems


def test_on_a_default_open_no_canary_address_is_left_where_the_browser_would_fetch_it():
    for vector in vectors(CANARY):
        for tag, attrs in _body_elements(vector):
            for name, value in attrs.items():
                if name not in {"href", "title", "alt"}:  # link targets and text are not fetched
                    assert CANARY not in (value or ""), (vector, tag, name)


def test_remote_images_come_back_only_when_asked_and_only_as_img_src():
    html = '<img src="https://t.test/a.png" srcset="https://t.test/b.png 2x"><video src="https://t.test/v">'
    assert email_document(html).blocked_images == 1
    shown = _body_elements(html, allow_images=True)
    assert shown == [("img", {"src": "https://t.test/a.png"})]


def test_cid_images_are_held_back_not_resolved_against_the_app():
    # Inline parts' bytes are not stored (only their metadata), so cid: cannot be mapped:
    # the image is dropped (alt text stays) rather than left as a URL the frame resolves.
    elements = _body_elements('<img src="cid:logo@x" alt="Logo">', allow_images=True)
    assert elements == [("img", {"alt": "Logo"})]


def test_safe_layout_css_and_links_survive():
    elements = _body_elements(
        '<table style="border-collapse:collapse;width:100%"><tr><td style="color:#333;padding:4px">x</td>'
        '</tr></table><a href="mailto:dana@client.test">mail</a><a href="https://client.test/p">page</a>'
    )
    styles = [attrs.get("style") for tag, attrs in elements if tag in {"table", "td"}]
    assert styles == ["border-collapse:collapse;width:100%", "color:#333;padding:4px"]
    links = [attrs["href"] for tag, attrs in elements if tag == "a"]
    assert links == ["mailto:dana@client.test", "https://client.test/p"]


def test_the_frame_document_forbids_script_forms_and_remote_loads_by_csp():
    document = email_document("<p>x</p>").document.replace("&#x27;", "'")
    csp = document.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"  # script-src, connect-src, frame-src, font-src…
    assert "script-src" not in directives
    assert directives["img-src"] == "data:"
    assert directives["form-action"] == "'none'"
    assert '<meta name="referrer" content="no-referrer">' in document
