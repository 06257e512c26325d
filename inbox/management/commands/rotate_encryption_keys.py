from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from inbox import crypto
from inbox.fields import EncryptedToken
from inbox.models import MailAccount


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        table = MailAccount._meta.db_table
        rotated = 0
        with transaction.atomic():
            # Raw tokens, so rows are rotated without ever holding their plaintext in a model.
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT id, credentials FROM {table} WHERE credentials <> ''")  # noqa: S608
                rows = cursor.fetchall()
            for pk, token in rows:
                MailAccount.objects.filter(pk=pk).update(credentials=EncryptedToken(crypto.rotate(token)))
                rotated += 1
        self.stdout.write(f"Re-encrypted the credentials of {rotated} mailbox(es) with the newest key.")
