"""axe-core on every page, at desktop and phone width: no serious or critical violations and one h1,
and every control reached with Tab shows a visible focus indicator."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.pages import demo_pages, each_page

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


def _serious(page) -> list[str]:  # type: ignore[no-untyped-def]
    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation.get("impact") in ("serious", "critical"):
            targets = [", ".join(map(str, n.get("target", []))) for n in violation["nodes"][:3]]
            found.append(f"{violation['id']} ({violation['impact']}, {len(violation['nodes'])}x): {targets}")
    return found


# The h1 count and the page's text in one round trip.
HEADINGS_AND_TEXT = "() => [document.querySelectorAll('h1').length, document.body.innerText]"


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_no_serious_or_critical_axe_violations_on_any_page(open_as, size):
    demo = demo_pages()
    width, height = SIZES[size]
    page = open_as(demo.alice, "/inbox/", width=width, height=height)
    problems: dict[str, list[str]] = {}
    visited = []
    for name in each_page(page, demo):
        visited.append(name)
        found = _serious(page)
        # A screen reader jumps to a page's title by its heading: exactly one h1 (axe-core's
        # own rule for it is only "moderate").
        headings, text = page.evaluate(HEADINGS_AND_TEXT)
        if headings != 1:
            found.append(f"{headings} h1 headings")
        # Nor template source read out as text (a {# comment #} spanning lines is shown).
        found += [f"template text {mark!r} shown" for mark in ("{#", "#}", "{%", "{{") if mark in text]
        if found:
            problems[name] = found
    assert visited == demo.names()  # every page was opened, none skipped
    total = sum(len(v) for v in problems.values())
    print(f"axe {size}: {total} serious/critical rule violations on {len(problems)} pages: {problems}")
    assert not problems


# What the focused element shows (null: nothing of the page has focus, e.g. the walk went
# past its last control). Read in the focusin listener below, as the focus lands.
DESCRIBE_FOCUS = """function describeFocus() {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow && style.boxShadow !== "none";
  const label = el.getAttribute("aria-label") || el.textContent.trim().slice(0, 40)
    || el.getAttribute("name") || "";
  return {tag: el.tagName, cls: String(el.className), label, visible: outline || shadow};
}"""

# Logs every focus change of the page as it happens, so that the walk reads what a few Tab
# presses reached in one evaluate instead of one round trip after each press.
LOG_FOCUS = f"""() => {{
  {DESCRIBE_FOCUS}
  window.__focusLog = [];
  document.addEventListener("focusin", () => window.__focusLog.push(describeFocus()), true);
}}"""

MAX_TABS = 60  # per page
TABS_PER_READ = 4  # at most 3 presses more than needed, past the wrap-around


def _tab_through(page) -> list[dict]:  # type: ignore[no-untyped-def]
    """Press Tab (a real key press each time) until the focus comes back to a control it has
    already been on, at most MAX_TABS times; the controls reached, in order."""
    page.evaluate(LOG_FOCUS)
    seen = set()
    reached = []
    for pressed in range(1, MAX_TABS + 1):
        page.keyboard.press("Tab")
        if pressed % TABS_PER_READ and pressed < MAX_TABS:
            continue
        for info in page.evaluate("() => window.__focusLog.splice(0)"):
            if info is None:
                continue  # past the page's last control
            key = (info["tag"], info["cls"], info["label"])
            if key in seen:
                return reached  # wrapped around: every control of the page was reached
            seen.add(key)
            reached.append(info)
    return reached


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_control_reached_by_tab_shows_a_visible_focus_ring(open_as, size):
    demo = demo_pages()
    width, height = SIZES[size]
    page = open_as(demo.alice, "/inbox/", width=width, height=height)
    invisible: dict[str, list[str]] = {}
    reached = 0
    visited = []
    for name in each_page(page, demo):
        visited.append(name)
        for info in _tab_through(page):
            reached += 1
            if not info["visible"]:
                invisible.setdefault(name, []).append(f"{info['tag']}.{info['cls']} “{info['label']}”")
    assert visited == demo.names()
    assert reached > 400  # the walk really went through the pages' controls
    assert not invisible, f"focused without a visible indicator: {invisible}"
