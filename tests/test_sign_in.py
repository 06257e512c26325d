"""Sign-in: e-mail login through allauth, rate-limited in the Redis cache."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():  # type: ignore[no-untyped-def]
    cache.clear()
    yield
    cache.clear()


def _login(client, email: str, password: str, ip: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    return client.post(reverse("account_login"), {"login": email, "password": password}, REMOTE_ADDR=ip)


def test_alice_signs_in_with_her_email_and_lands_in_the_inbox(client, alice):
    response = _login(client, "alice@acme.test", "pw-123456789")
    assert response.status_code == 302 and response["Location"] == reverse("inbox:folder")


def test_wrong_password_is_refused(client, alice):
    response = _login(client, "alice@acme.test", "wrong")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_repeated_failures_lock_the_account_even_with_the_right_password(client, alice, settings):
    from django.conf import settings as django_settings

    assert "RedisCache" in django_settings.CACHES["default"]["BACKEND"]
    for i in range(5):
        _login(client, "alice@acme.test", f"guess-{i}", ip=f"10.0.0.{i + 1}")
    response = _login(client, "alice@acme.test", "pw-123456789", ip="10.0.0.99")
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session
    assert b"Too many failed login attempts" in response.content


def test_open_sign_up_is_closed(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "mallory@evil.test", "password1": "x" * 12, "password2": "x" * 12},
    )
    from accounts.models import User

    assert not User.objects.filter(email="mallory@evil.test").exists()
    assert response.status_code in (200, 302, 403)


def test_pages_need_a_signed_in_user(client):
    response = client.get(reverse("inbox:folder"))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_fifty_correct_sign_ins_from_one_office_address_in_a_minute_all_succeed(alice, bob):
    """An office behind one NAT address signs in at the start of a shift: nobody gets a 429."""
    from django.test import Client

    people = [("alice@acme.test", alice), ("bob@acme.test", bob)]
    for i in range(50):
        email, _ = people[i % 2]
        office = Client()
        response = _login(office, email, "pw-123456789", ip="198.51.100.7")
        assert response.status_code == 302, (i, response.status_code)
        assert "_auth_user_id" in office.session


def test_ten_wrong_passwords_for_one_account_are_still_stopped_from_the_office_address(client, alice, bob):
    from django.test import Client

    for _i in range(20):  # bob's colleagues keep signing in meanwhile
        assert _login(Client(), "bob@acme.test", "pw-123456789", ip="198.51.100.7").status_code == 302
    refused = 0
    for i in range(10):
        response = _login(client, "alice@acme.test", f"guess-{i}", ip="198.51.100.7")
        assert "_auth_user_id" not in client.session
        refused += b"Too many failed login attempts" in response.content
    assert refused >= 5  # the account's limit (5 in 5 minutes) stopped the rest
    response = _login(client, "alice@acme.test", "pw-123456789", ip="203.0.113.9")
    assert "_auth_user_id" not in client.session  # even the right password waits now
    assert b"Too many failed login attempts" in response.content


def test_failed_attempts_from_one_address_are_limited_across_accounts(client, alice, bob):
    for i in range(10):
        _login(client, f"nobody{i}@acme.test", "guess", ip="192.0.2.66")
    response = _login(client, "bob@acme.test", "guess", ip="192.0.2.66")
    assert b"Too many failed login attempts" in response.content or response.status_code == 429
