"""Attachments: permission-checked access, keeping the bytes, and serving them safely.

The bytes of an attachment stay at the provider until someone opens it. The first open
asks the provider for that one part (through ``settings.ATTACHMENT_FETCHER``, a dotted path
into ``sync``: inbox never imports sync), streams it into a temporary file on disk while
counting against the size cap, and keeps it in Django's default storage (the filesystem
under ``VAR_DIR``, or S3-compatible object storage). Later opens read the kept file with no
provider call. A row's file goes with its row (``inbox.signals``): delete the message and
its bytes are gone too.

Serving follows one rule: nothing from a mail can run in the app's origin. Every response
carries ``X-Content-Type-Options: nosniff`` and a locked-down Content-Security-Policy;
only images of a safe raster type are ever shown inline, everything else (HTML, SVG, XML,
PDF, unknown) is ``Content-Disposition: attachment`` with a sanitized file name.
"""

from __future__ import annotations

import re
import tempfile
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import User
from inbox.errors import InboxError, NotFound
from inbox.models import Attachment, Message
from inbox.selectors import get_message, visible_conversations

# Shown inline (Content-Disposition: inline, in <img>) — raster formats browsers decode as
# images only. SVG (scriptable), HTML, XML and anything unknown are always downloads.
SAFE_INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif"}
)
# The signed same-origin URL of an inline (cid:) image lives this long (seconds).
INLINE_URL_MAX_AGE = 600
_SIGNER_SALT = "inbox.attachment.inline"
CHUNK_BYTES = 256 * 1024
# Bidi overrides/isolates and other format characters that make "exe.pdf" look like "fdp.exe".
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
MAX_FILENAME_BYTES = 255


class AttachmentTooLarge(InboxError):
    """Above a size cap: the message says which cap and where to open it instead."""


class AttachmentUnavailable(InboxError):
    """The provider could not give the part (gone, refused, or not fetchable)."""


def safe_filename(name: str, content_type: str = "") -> str:
    """A name safe for a download: no path, no control, bidi or reserved characters, no
    leading dots, at most 255 bytes of UTF-8 with the extension kept."""
    name = unicodedata.normalize("NFC", name or "")
    name = _BIDI.sub("", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    # Path separators become "_" (the last segment alone would hide ".." tricks in logs).
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\.{2,}", ".", name)
    name = name.strip(" ._")
    if not name:
        name = "attachment"
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16 or not stem:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = MAX_FILENAME_BYTES - len(suffix.encode())
    encoded = stem.encode()
    if len(encoded) > budget:
        stem = encoded[:budget].decode("utf-8", "ignore").rstrip(" .")
    return stem + suffix


def content_disposition(filename: str, *, inline: bool) -> str:
    """RFC 6266: an ASCII ``filename`` fallback and the UTF-8 ``filename*``."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._ ()+,=@-]", "_", ascii_name).strip() or "attachment"
    kind = "inline" if inline else "attachment"
    quoted = urllib.parse.quote(filename, safe="")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"


def shows_inline(attachment: Attachment) -> bool:
    return attachment.content_type.lower() in SAFE_INLINE_TYPES


def visible_attachments(user: User) -> QuerySet[Attachment]:
    return Attachment.objects.filter(message__conversation_id__in=visible_conversations(user).values("id"))


def get_attachment(user: User, attachment_id: int) -> Attachment:
    """One attachment of a message the user may see; 404 for anything else."""
    attachment = (
        visible_attachments(user).select_related("message", "account").filter(pk=attachment_id).first()
    )
    if attachment is None:
        raise NotFound("No such attachment.")
    return attachment


def message_attachments(user: User, message_id: int) -> tuple[Message, list[Attachment]]:
    message = get_message(user, message_id)
    rows = list(Attachment.objects.filter(message_id=message.pk).select_related("account"))
    return message, rows


# -- signed inline URLs -----------------------------------------------------------------


def inline_token(user: User, attachment: Attachment) -> str:
    """A short-lived token naming the viewer and the attachment. The sandboxed mail frame
    has an opaque origin, so it sends no session cookie: the token itself is the key, and
    the viewer's access is checked again when it is used."""
    return signing.TimestampSigner(salt=_SIGNER_SALT).sign(f"{user.pk}.{attachment.pk}")


def attachment_for_token(token: str, *, now: float | None = None) -> Attachment:
    """The attachment of a valid, unexpired token the named user may still see.
    Raises ``signing.BadSignature`` (``SignatureExpired`` included) otherwise."""
    value = signing.TimestampSigner(salt=_SIGNER_SALT).unsign(token, max_age=INLINE_URL_MAX_AGE)
    user_pk, _, attachment_pk = value.partition(".")
    user = User.objects.filter(pk=int(user_pk), is_active=True).first()
    if user is None:
        raise signing.BadSignature("No such user.")
    try:
        return get_attachment(user, int(attachment_pk))
    except NotFound as exc:
        raise signing.BadSignature("Not visible any more.") from exc


# -- serving ---------------------------------------------------------------------------

# What the browser may do with a served file: nothing (no scripts, no plugins, no frames).
FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
# Downloads other than safe images are sent as bytes, whatever the mail claimed they were.
DOWNLOAD_TYPE = "application/octet-stream"


def harden(response: HttpResponse | StreamingHttpResponse | FileResponse) -> None:
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private, no-store"


def file_response(attachment: Attachment, *, force_download: bool = False) -> FileResponse:
    """The kept bytes, streamed; inline only for a safe raster image."""
    inline = shows_inline(attachment) and not force_download
    name = safe_filename(attachment.filename)
    response = FileResponse(
        open_kept(attachment),
        content_type=attachment.content_type.lower() if inline else DOWNLOAD_TYPE,
    )
    if attachment.kept_size is not None:
        response["Content-Length"] = str(attachment.kept_size)
    response["Content-Disposition"] = content_disposition(name, inline=inline)
    harden(response)
    return response


# -- keeping the bytes ------------------------------------------------------------------


@dataclass(frozen=True)
class Caps:
    per_file: int
    per_message: int


def caps() -> Caps:
    return Caps(settings.ATTACHMENT_MAX_BYTES, settings.ATTACHMENT_MESSAGE_MAX_BYTES)


def _mb(n: int) -> str:
    if n >= 10 * 1_048_576:
        return f"{n / 1_048_576:.0f} MB"
    if n >= 1_048_576:
        return f"{n / 1_048_576:.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


def check_file_cap(attachment: Attachment) -> None:
    cap = caps().per_file
    if attachment.size > cap:
        raise AttachmentTooLarge(
            f"“{safe_filename(attachment.filename)}” is {_mb(attachment.size)}, above the {_mb(cap)} "
            f"limit for one file here. Open it in {attachment.account.get_provider_display()}."
        )


def check_message_cap(attachments: Iterable[Attachment]) -> None:
    cap = caps().per_message
    total = sum(a.size for a in attachments)
    if total > cap:
        raise AttachmentTooLarge(
            f"This email's attachments add up to {_mb(total)}, above the {_mb(cap)} limit for "
            "one download; download the files one by one."
        )


Fetcher = Callable[[Attachment], Iterator[bytes]]


def _fetcher() -> Fetcher:
    return import_string(settings.ATTACHMENT_FETCHER)  # type: ignore[no-any-return]


def keep(attachment: Attachment) -> Attachment:
    """Make sure the attachment's bytes are in storage: fetched from the provider once."""
    if attachment.file:
        return attachment
    check_file_cap(attachment)
    cap = caps().per_file
    with tempfile.SpooledTemporaryFile(max_size=CHUNK_BYTES, dir=settings.ATTACHMENT_TEMP_DIR) as spool:
        total = 0
        for chunk in _fetcher()(attachment):
            total += len(chunk)
            if total > cap:
                raise AttachmentTooLarge(
                    f"“{safe_filename(attachment.filename)}” is above the {_mb(cap)} limit for one "
                    f"file here. Open it in {attachment.account.get_provider_display()}."
                )
            spool.write(chunk)
        spool.seek(0)
        name = default_storage.save(attachment.file.field.generate_filename(attachment, ""), File(spool))
    with transaction.atomic():
        locked = Attachment.objects.select_for_update().filter(pk=attachment.pk).first()
        if locked is None or locked.file:
            # Deleted meanwhile, or another download kept it first: drop this copy.
            default_storage.delete(name)
            if locked is None:
                raise NotFound("No such attachment.")
            return locked
        Attachment.objects.filter(pk=attachment.pk).update(file=name, kept_size=total, kept_at=timezone.now())
    attachment.file.name = name
    attachment.kept_size = total
    return attachment


def open_kept(attachment: Attachment) -> IO[bytes]:
    return default_storage.open(str(attachment.file.name), "rb")


def iter_file(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


# -- what the conversation page shows -------------------------------------------------


@dataclass
class MessageFiles:
    """One message's attachments as the page shows them: the files to list, and the
    signed URLs of the inline images its HTML refers to (``cid:``)."""

    listed: list[Attachment]
    inline_images: dict[str, str]
    inline_source: str


def files_by_message(user: User, messages: list[Message]) -> dict[int, list[Attachment]]:
    """Attachment rows of already visible messages, in one query — and none when no message
    listed a part at import (``Message.attachments``, which the rows are made from)."""
    rows: dict[int, list[Attachment]] = {m.pk: [] for m in messages}
    with_files = [m.pk for m in messages if m.attachments]
    if not with_files:
        return rows
    for row in Attachment.objects.filter(message_id__in=with_files).order_by("message_id", "position"):
        rows[row.message_id].append(row)
    return rows


def message_files(
    user: User, message: Message, rows: list[Attachment], absolute: Callable[[str], str]
) -> MessageFiles:
    """``absolute`` turns a path into this site's absolute URL (the frame's CSP names it)."""
    from django.urls import reverse

    html = message.html or ""
    inline_images: dict[str, str] = {}
    listed: list[Attachment] = []
    for row in rows:
        referenced = bool(row.content_id) and f"cid:{row.content_id}".lower() in html.lower()
        if referenced and shows_inline(row):
            token = inline_token(user, row)
            inline_images[row.content_id] = absolute(reverse("inbox:attachment_inline", args=[token]))
        if not (referenced and row.inline):
            listed.append(row)
    source = absolute(reverse("inbox:attachment_inline", args=["x"])[: -len("x/")]) if inline_images else ""
    return MessageFiles(listed, inline_images, source)
