"""The single-column index on ``inbox_conversation(account_id)``.

Every conversation index starts with ``account_id`` (conv_folder_idx, conv_sent_idx,
conv_subject_idx, conv_inbox_read_idx), so every query that reads a mailbox's conversations
keeps an index of that shape. This one only ever cost: one more index insert per new
conversation, and a trap for a mailbox PostgreSQL's statistics do not know yet (a first
sync): both it and conv_subject_idx look like one row for that mailbox, the smaller wins,
and the first sync's subject probe read every conversation of the mailbox through it for
each subject of each group (36 ms a group at 10,000 messages, growing with the mailbox).

Only the index goes, as in 0016 and 0017 (``AlterField(db_index=False)`` would drop and
re-add the foreign-key constraint, re-checking every row under lock).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0017_drop_message_account_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="conversation",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="conversations",
                        to="inbox.mailaccount",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "inbox_conversation_account_id_05696162"',
                    reverse_sql='CREATE INDEX IF NOT EXISTS "inbox_conversation_account_id_05696162"'
                    ' ON "inbox_conversation" ("account_id")',
                ),
            ],
        ),
    ]
