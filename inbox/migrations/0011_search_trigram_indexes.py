"""Trigram GIN indexes for the participant part of the search (PostgreSQL only).

The search matches a participant by substring, ``UPPER(address) LIKE UPPER('%term%')``
(Django's ``icontains``). Without these indexes a rare term can only be found by reading
every participant row; with them PostgreSQL answers it from the index. The expressions
are exactly the ones ``icontains`` compiles to, so the planner can match them. The SQLite
demo searches by substring without an index and gets nothing here.
"""

from django.db import migrations

# Written out: Django wraps an OpClass expression in one parenthesis too many for PostgreSQL.
INDEXES = {
    "participant_address_trgm": 'inbox_participant USING gin ((UPPER("address"::text)) gin_trgm_ops)',
    "participant_name_trgm": 'inbox_participant USING gin ((UPPER("name"::text)) gin_trgm_ops)',
}


def add(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def remove(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("inbox", "0010_attachment_rows_for_existing_messages")]

    operations = [migrations.RunPython(add, remove)]
