"""GIN indexes on the exact to_tsvector expressions the search uses (PostgreSQL only;
the SQLite demo searches by substring and gets no index)."""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

INDEXES = [
    ("message", GinIndex(SearchVector("text", config="simple"), name="msg_text_fts")),
    ("conversation", GinIndex(SearchVector("subject", config="simple"), name="conv_subject_fts")),
]


def add(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for model_name, index in INDEXES:
        schema_editor.add_index(apps.get_model("inbox", model_name), index)


def remove(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for model_name, index in INDEXES:
        schema_editor.remove_index(apps.get_model("inbox", model_name), index)


class Migration(migrations.Migration):
    dependencies = [("inbox", "0003_initial_sync_progress")]

    operations = [migrations.RunPython(add, remove)]
