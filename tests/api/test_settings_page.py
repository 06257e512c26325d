"""Personal settings › API: make, see (once) and revoke a token in the browser."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from api.models import ApiToken
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db
URL = "/settings/api/"


def _token_on(html: str) -> str | None:
    match = re.search(r'id="new-token"[^>]*value="([0-9a-f]{40})"', html)
    return match.group(1) if match else None


def test_page_needs_sign_in(db):
    response = Client().get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_generate_shows_the_token_once_and_it_works(alice):
    client = Client()
    client.force_login(alice)
    assert "You have no API token" in client.get(URL).content.decode()

    shown = client.post(URL, {"action": "generate"})
    token = _token_on(shown.content.decode())
    assert token is not None and "no-store" in shown["Cache-Control"]
    assert Api(Client(), token).get("/deals").status == 200

    later = client.get(URL).content.decode()
    assert _token_on(later) is None and token not in later
    assert f"…{token[-4:]}" in later


def test_revoke_stops_the_token(alice):
    client = Client()
    client.force_login(alice)
    token = _token_on(client.post(URL, {"action": "generate"}).content.decode())
    assert client.post(URL, {"action": "revoke"}).status_code == 302
    assert not ApiToken.objects.filter(user=alice).exists()
    assert Api(Client(), token).get("/deals").status == 401


def test_page_posts_need_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(URL, {"action": "generate"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_each_user_sees_only_their_own_token(alice, bob):
    alice_client, bob_client = Client(), Client()
    alice_client.force_login(alice)
    bob_client.force_login(bob)
    alice_client.post(URL, {"action": "generate"})
    assert "You have no API token" in bob_client.get(URL).content.decode()
    bob_client.post(URL, {"action": "revoke"})
    assert ApiToken.objects.filter(user=alice).exists()


def test_page_names_both_base_urls_and_the_header_clients_send(alice):
    client = Client()
    client.force_login(alice)
    html = client.get(URL).content.decode()
    assert "http://testserver/api/v1" in html and "http://testserver/api/v2" in html
    assert "x-api-token" in html and 'href="/api/openapi.json"' in html


@pytest.mark.django_db(transaction=True)
def test_page_fits_a_phone_and_is_usable_by_keyboard(open_as, alice):
    page = open_as(alice, URL, width=390, height=800)
    # Nothing (the base URLs included) makes the page scroll sideways at 390 px.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.keyboard.press("Tab")
    for _ in range(40):
        if page.evaluate("document.activeElement.textContent.trim()") == "Generate API token":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Generate API token"
    page.keyboard.press("Enter")
    page.wait_for_selector("#new-token")
    assert ApiToken.objects.filter(user=alice).exists()
