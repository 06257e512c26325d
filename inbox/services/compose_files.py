"""Files on mail written in the app: uploads from the editor and, on Forward, the original's
attachments (read through issue 18's attachment store: ``inbox.attachments.keep`` fetches a
part from the provider once and keeps it). They leave as MIME parts of the message itself,
so every provider sends them the same way, and the sent message keeps them as ``Attachment``
rows whose bytes are already kept (opening one later asks no provider).

Caps as for downloads: ``ATTACHMENT_MAX_BYTES`` per file, ``ATTACHMENT_MESSAGE_MAX_BYTES``
for all of a message's files together; a file above a cap is refused before anything is
queued, with its name and the cap.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from inbox.attachments import AttachmentTooLarge, _mb, caps, keep, open_kept, safe_filename
from inbox.errors import InboxError, InvalidRequest
from inbox.models import Attachment, MailAccount, Message
from inbox.outgoing import OutgoingFile

MAX_FILES = 100


@dataclass(frozen=True)
class Upload:
    """One file from the editor, as the view read it."""

    filename: str
    content_type: str
    data: bytes


def _content_type(filename: str, given: str) -> str:
    given = (given or "").strip().lower()
    if "/" in given and "\n" not in given and "\r" not in given and len(given) < 128:
        return given
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _check_file(filename: str, size: int) -> None:
    per_file = caps().per_file
    if size > per_file:
        raise InvalidRequest(f"“{filename}” is {_mb(size)}, above the {_mb(per_file)} limit for one file.")


def _check_total(total: int) -> None:
    if total > caps().per_message:
        raise InvalidRequest(
            f"The files add up to {_mb(total)}, above the {_mb(caps().per_message)} limit for one message."
        )


def stage_uploads(
    company_id: int, kept: Sequence[dict[str, Any]], uploads: Sequence[Upload]
) -> list[dict[str, Any]]:
    """A draft's files after these uploads: each stored at once (the draft keeps them until
    Send or Discard), under the caps for one file and for the whole message."""
    entries = list(kept)
    for upload in uploads:
        name = safe_filename(upload.filename or "attachment")
        _check_file(name, len(upload.data))
        entries.append(
            {
                "filename": name,
                "content_type": _content_type(name, upload.content_type),
                "size": len(upload.data),
            }
        )
    if len(entries) > MAX_FILES:
        raise InvalidRequest(f"{len(entries)} files is too many for one message: at most {MAX_FILES}.")
    _check_total(sum(int(e.get("size") or 0) for e in entries))
    for entry, upload in zip(entries[len(kept) :], uploads, strict=True):
        entry["name"] = default_storage.save(
            f"drafts/{company_id}/{uuid.uuid4().hex}", ContentFile(upload.data)
        )
    return entries


def stored_files(entries: Sequence[dict[str, Any]]) -> list[OutgoingFile]:
    """A draft's stored files, read back for Send."""
    files = []
    for entry in entries:
        try:
            with default_storage.open(str(entry["name"]), "rb") as handle:
                data = handle.read()
        except (OSError, KeyError) as exc:
            raise InvalidRequest(f"“{entry.get('filename')}” is no longer stored: attach it again.") from exc
        files.append(OutgoingFile(str(entry["filename"]), str(entry["content_type"]), data))
    return files


def delete_stored(entries: Iterable[dict[str, Any]]) -> None:
    """Remove draft files from the storage once the transaction that let them go commits."""
    names = [str(e["name"]) for e in entries if e.get("name")]
    if names:
        transaction.on_commit(lambda: _delete(names))


def _delete(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def files_for_draft(message: Message, *, skip: int) -> list[dict[str, Any]]:
    """Undo / Edit: the sent message's own files (after the ``skip`` forwarded ones, which a
    forward takes from the original again) go back to the draft — their stored bytes change
    hands, so the rows, deleted with the message, no longer delete them."""
    rows = list(Attachment.objects.filter(message=message, position__gte=skip).exclude(file=""))
    entries = [
        {"name": r.file.name, "filename": r.filename, "content_type": r.content_type, "size": r.size}
        for r in rows
    ]
    Attachment.objects.filter(pk__in=[r.pk for r in rows]).update(file="")
    return entries


def collect_files(
    uploads: Sequence[Upload],
    *,
    forward_from: Message | None = None,
    stored: Sequence[dict[str, Any]] = (),
) -> list[OutgoingFile]:
    """The files of one message: the original's attachments first (Forward), then the
    draft's stored files, then uploads. Raises ``InvalidRequest`` (shown on the form) for a
    file over a cap or one the provider would not give."""
    files: list[OutgoingFile] = []
    per_file = caps().per_file
    if forward_from is not None:
        for row in Attachment.objects.filter(message=forward_from).select_related("account"):
            try:
                kept = keep(row)
                with open_kept(kept) as handle:
                    data = handle.read(per_file + 1)
            except AttachmentTooLarge as exc:
                raise InvalidRequest(f"Forward: {exc}") from exc
            except InboxError as exc:
                raise InvalidRequest(
                    f"Forward: “{safe_filename(row.filename)}” could not be attached: {exc}"
                ) from exc
            name = safe_filename(row.filename or "attachment", row.content_type)
            files.append(OutgoingFile(name, _content_type(name, row.content_type), data))
    files += stored_files(stored)
    for upload in uploads:
        name = safe_filename(upload.filename or "attachment")
        files.append(OutgoingFile(name, _content_type(name, upload.content_type), upload.data))
    if len(files) > MAX_FILES:
        raise InvalidRequest(f"{len(files)} files is too many for one message: at most {MAX_FILES}.")
    for item in files:
        _check_file(item.filename, len(item.data))
    _check_total(sum(len(item.data) for item in files))
    return files


def listed(files: Sequence[OutgoingFile]) -> list[dict[str, object]]:
    """``Message.attachments`` of the sent message: its parts after the text (part 1)."""
    return [
        {"filename": f.filename, "content_type": f.content_type, "size": len(f.data), "part": str(i + 2)}
        for i, f in enumerate(files)
    ]


def keep_sent_files(account: MailAccount, message: Message, files: Sequence[OutgoingFile]) -> None:
    """The sent message's ``Attachment`` rows, their bytes kept at once (they are ours)."""
    for position, item in enumerate(files):
        row = Attachment.objects.create(
            message=message,
            account=account,
            position=position,
            filename=item.filename,
            content_type=item.content_type,
            size=len(item.data),
            part=str(position + 2),
        )
        row.file.save("", ContentFile(item.data), save=False)
        Attachment.objects.filter(pk=row.pk).update(
            file=row.file.name, kept_size=len(item.data), kept_at=timezone.now()
        )
