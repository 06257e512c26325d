"""Two single-column foreign-key indexes that a composite index already starts with.

``inbox_attachment(message_id)`` (att_message_pos_idx starts with message_id) and
``inbox_providerref(account_id)`` (provider_ref_unique and ref_folder_uid_idx start with
account_id): every query the app sends keeps an index of that shape without them
(bench/index_plans.py on a 100,000-conversation database, docs/bench/index-plans-s28.txt),
and each was one more index insert per stored message or file.

Only the indexes go: ``AlterField(db_index=False)`` would also drop and re-add the foreign-key
constraint, which re-checks every row of a big table under lock. The index names are the
ones Django gave them, the same on PostgreSQL and SQLite.
"""

import django.db.models.deletion
from django.db import migrations, models

_INDEXES = [
    ("inbox_attachment_message_id_353f98ff", "inbox_attachment", "message_id"),
    ("inbox_providerref_account_id_ef63130e", "inbox_providerref", "account_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0015_conversation_inbox_read_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="attachment",
                    name="message",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attachment_rows",
                        to="inbox.message",
                    ),
                ),
                migrations.AlterField(
                    model_name="providerref",
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
                    sql=f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")',
                )
                for name, table, column in _INDEXES
            ],
        ),
    ]
