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
