"""Passwords are stored with Argon2id; hashes from before still sign in and are upgraded."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _production_hashers(settings):  # type: ignore[no-untyped-def]
    # The suite hashes with MD5 for speed (FAST_PASSWORD_HASHING); these tests need the real list.
    settings.PASSWORD_HASHERS = django_settings.STRONG_PASSWORD_HASHERS
    cache.clear()
    yield
    cache.clear()


def _sign_in(client, email: str, password: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_a_new_password_is_stored_as_argon2id_with_owasps_parameters(alice):
    alice.set_password("a-new-long-passphrase")
    alice.save()

    alice.refresh_from_db()
    assert alice.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert alice.check_password("a-new-long-passphrase")
    assert not alice.check_password("a-new-long-passphrase!")


def test_alice_with_a_pbkdf2_password_from_before_signs_in_and_is_rehashed_with_argon2id(client, alice):
    User.objects.filter(pk=alice.pk).update(password=make_password("pw-123456789", hasher="pbkdf2_sha256"))

    response = _sign_in(client, "alice@acme.test", "pw-123456789")

    assert response.status_code == 302 and response["Location"] == reverse("inbox:folder")
    alice.refresh_from_db()
    assert alice.password.startswith("argon2$argon2id$")
    assert _sign_in(client.__class__(), "alice@acme.test", "pw-123456789").status_code == 302


def test_a_wrong_password_against_a_pbkdf2_hash_is_refused_and_keeps_the_old_hash(client, alice):
    old = make_password("pw-123456789", hasher="pbkdf2_sha256")
    User.objects.filter(pk=alice.pk).update(password=old)

    response = _sign_in(client, "alice@acme.test", "not-her-password")

    assert response.status_code == 200 and "_auth_user_id" not in client.session
    alice.refresh_from_db()
    assert alice.password == old
