"""Opening and downloading attachments, and the signed URLs of inline (cid:) images.

Every answer that carries mail bytes is streamed from the storage (``FileResponse`` /
``StreamingHttpResponse``), says ``nosniff``, and has a Content-Security-Policy that lets
nothing run (``sandbox``), so even a file a browser chose to render could not script the
app's origin. Only safe raster images are ever ``inline``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.models import User
from inbox import attachments as store
from inbox.models import Attachment


class AuthedRequest(HttpRequest):
    user: User


def _problem(request: HttpRequest, exc: Exception, status: int) -> HttpResponse:
    return render(request, "inbox/attachment_problem.html", {"reason": str(exc)}, status=status)


@login_required
@require_GET
def download(request: AuthedRequest, attachment_id: int) -> HttpResponseBase:
    attachment = store.get_attachment(request.user, attachment_id)
    try:
        store.keep(attachment)
    except store.AttachmentTooLarge as exc:
        return _problem(request, exc, 413)
    except store.AttachmentUnavailable as exc:
        return _problem(request, exc, 502)
    return store.file_response(attachment, force_download=request.GET.get("download") == "1")


@require_GET
def inline(request: HttpRequest, token: str) -> HttpResponseBase:
    """An inline image for the sandboxed mail frame. The frame has an opaque origin and
    sends no session cookie, so the short-lived signed token is the permission (it names
    the viewer, whose access is checked again). Expired or forged → 403."""
    try:
        attachment = store.attachment_for_token(token)
    except signing.BadSignature:
        response = HttpResponse("This image link has expired. Reload the email.", status=403)
        store.harden(response)
        return response
    if not store.shows_inline(attachment):
        response = HttpResponse("Only images are shown inline.", status=403)
        store.harden(response)
        return response
    try:
        store.keep(attachment)
    except (store.AttachmentTooLarge, store.AttachmentUnavailable) as exc:
        response = HttpResponse(str(exc), status=502)
        store.harden(response)
        return response
    image = store.file_response(attachment)
    # Loaded by the sandboxed (opaque-origin) frame: cross-origin to it by definition.
    image["Cross-Origin-Resource-Policy"] = "cross-origin"
    return image


@login_required
@require_GET
def download_all(request: AuthedRequest, message_id: int) -> HttpResponseBase:
    """Every attachment of one message as a zip, written while it is sent."""
    message, rows = store.message_attachments(request.user, message_id)
    if not rows:
        return _problem(request, store.AttachmentUnavailable("This email has no attachments."), 404)
    try:
        store.check_message_cap(rows)
        for row in rows:
            store.keep(row)
    except store.AttachmentTooLarge as exc:
        return _problem(request, exc, 413)
    except store.AttachmentUnavailable as exc:
        return _problem(request, exc, 502)
    name = store.safe_filename(f"{(message.subject or 'email')[:80]} attachments.zip")
    response = StreamingHttpResponse(zip_stream(rows), content_type="application/zip")
    response["Content-Disposition"] = store.content_disposition(name, inline=False)
    store.harden(response)
    return response


class _Sink:
    """An unseekable file for ``zipfile``: what it writes is handed on and forgotten."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> Iterator[bytes]:
        chunks, self.chunks = self.chunks, []
        yield from chunks


def zip_stream(rows: list[Attachment]) -> Iterator[bytes]:
    sink = _Sink()
    used: set[str] = set()
    now = timezone.localtime().timetuple()[:6]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:  # type: ignore[call-overload]
        for row in rows:
            name = _unique(store.safe_filename(row.filename), used)
            info = zipfile.ZipInfo(name, date_time=now)
            with archive.open(info, "w", force_zip64=True) as entry:
                for chunk in store.iter_file(store.open_kept(row)):
                    entry.write(chunk)
                    yield from sink.take()
            yield from sink.take()
    yield from sink.take()


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 1
    stem, dot, ext = name.rpartition(".")
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
    used.add(candidate.lower())
    return candidate
