"""The list rows draw their icons from the page's one SVG sprite (issue 23): every row
action shows its drawing at 390 px, and the row's archive button is reached by keyboard
with a visible focus."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.pages import demo_pages

pytestmark = pytest.mark.django_db(transaction=True)


def test_row_icons_come_from_the_sprite_and_show_on_a_phone(open_as):
    demo = demo_pages()
    page = open_as(demo.alice, "/inbox/", width=390, height=844)
    row = page.locator("li.row").first
    expect(row).to_be_visible()
    assert page.locator("svg.sprite symbol").count() >= 6
    sizes = page.evaluate(
        """() => [...document.querySelectorAll('li.row use')].slice(0, 40)
               .filter(u => u.closest('svg').getClientRects().length > 0)  // shown at this width
               .map(u => { const b = u.getBBox(); return [u.getAttribute('href'), b.width, b.height]; })"""
    )
    # Every shown icon has a drawing (a <use> whose symbol is missing draws nothing: 0 × 0).
    assert {href for href, _, _ in sizes} >= {"#i-archive", "#i-trash"}, sizes
    assert all(w > 0 and h > 0 for _, w, h in sizes), sizes
    archive = row.get_by_role("button", name="Archive")
    archive.focus()
    expect(archive).to_be_focused()
    outline = archive.evaluate("b => getComputedStyle(b).outlineStyle + ' ' + getComputedStyle(b).boxShadow")
    assert outline != "none none", outline
