"""Mailbox secrets are encrypted at rest, and keys can be rotated."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from inbox import crypto
from inbox.models import MailAccount
from tests.factories import personal_account

pytestmark = pytest.mark.django_db

SECRET = "hunter2-imap-password"


def _raw_column(account: MailAccount) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_mailaccount WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


def test_credentials_are_never_stored_in_plaintext(alice):
    account = personal_account(alice)
    account.credentials = {"password": SECRET}
    account.save()
    raw = _raw_column(account)
    assert SECRET not in raw
    assert MailAccount.objects.get(pk=account.pk).credentials == {"password": SECRET}


def test_rotation_re_encrypts_with_new_key_and_old_key_can_go(alice, settings, capsys):
    account = personal_account(alice)
    account.credentials = {"password": SECRET}
    account.save()
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    before = _raw_column(account)
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encryption_keys")
    assert "1 mailbox" in capsys.readouterr().out
    after = _raw_column(account)
    assert after != before and SECRET not in after
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is retired
    assert MailAccount.objects.get(pk=account.pk).credentials == {"password": SECRET}


def test_secret_under_an_unknown_key_is_a_clear_error(alice, settings):
    account = personal_account(alice)
    account.credentials = {"password": SECRET}
    account.save()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.SecretUnreadable):
        _ = MailAccount.objects.get(pk=account.pk).credentials


def test_secrets_are_decrypted_only_by_code_that_reads_them(alice, settings):
    from inbox import selectors
    from tests.factories import receive

    account = personal_account(alice)
    account.credentials = {"password": SECRET}
    account.save()
    receive(account)
    # A lost key breaks connecting to the provider, not reading mail already synced.
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    page = selectors.folder_page(alice, "inbox")
    assert [c.account.address for c in page.conversations] == [account.address]
