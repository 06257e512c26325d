"""Attachment rows for messages imported before attachments had rows: the names, types and
sizes from ``Message.attachments``. Without a part number their bytes cannot be fetched;
opening one says so (the provider still has them)."""

from django.db import migrations

BATCH = 2000


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    Message = apps.get_model("inbox", "Message")
    Attachment = apps.get_model("inbox", "Attachment")
    have = set(Attachment.objects.values_list("message_id", flat=True).distinct())
    rows = []
    for message in Message.objects.exclude(attachments=[]).only("pk", "account_id", "attachments").iterator():
        if message.pk in have or not isinstance(message.attachments, list):
            continue
        for position, item in enumerate(message.attachments):
            if not isinstance(item, dict) or (not item.get("content_type") and not item.get("size")):
                continue
            rows.append(
                Attachment(
                    message_id=message.pk,
                    account_id=message.account_id,
                    position=position,
                    filename=str(item.get("filename") or "")[:1000],
                    content_type=str(item.get("content_type") or "")[:255],
                    size=int(item.get("size") or 0),
                    inline=bool(item.get("inline")),
                    content_id=str(item.get("content_id") or "")[:998],
                    part=str(item.get("part") or "")[:100],
                    provider_id=str(item.get("provider_id") or "")[:2000],
                )
            )
        if len(rows) >= BATCH:
            Attachment.objects.bulk_create(rows)
            rows = []
    Attachment.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [("inbox", "0009_attachments")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
