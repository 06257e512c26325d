"""The single-column index on ``inbox_message(account_id)``.

Three composite indexes start with ``account_id`` (msg_account_mid_idx, msg_account_irt_idx
and, through its mailbox, every conversation index), so every query that reads a mailbox's
messages keeps an index of that shape. The one plan that chose this index was the search's:
it ANDed the ~200,000-entry bitmap of the searched mailboxes with the word's full-text bitmap
of ~10,000, which cost more (about 7 ms on the 100,000-conversation bench database) than
checking the mailbox on the rows the full-text index found. And it was one more index insert
per stored message.

Only the index goes, as in 0016 (``AlterField(db_index=False)`` would drop and re-add the
foreign-key constraint, re-checking every row under lock).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0016_drop_fk_indexes_led_by_composites"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="inbox.mailaccount",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "inbox_message_account_id_44d5ab47"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "inbox_message_account_id_44d5ab47"'
                    ' ON "inbox_message" ("account_id")',
                ),
            ],
        ),
    ]
