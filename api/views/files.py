"""Mail attachments as Pipedrive File objects: list a message's files, get one, download it.

``files/{id}/download`` is Pipedrive's own download path; ``mailbox/mailMessages/{id}/files``
is ours (Pipedrive finds a message's files by filtering ``/files``). The bytes come from
``inbox.attachments`` exactly as the browser gets them: permission-checked, fetched from
the provider once and kept, streamed, ``nosniff``, and never inline unless a safe image.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from accounts.models import User
from api import serializers
from api.errors import ApiError
from api.http import api_view, ok, parse_id
from inbox import attachments as store


@api_view("GET")
def message_files(request: HttpRequest, user: User, message_id: str) -> HttpResponse:
    _, rows = store.message_attachments(user, parse_id(message_id))
    return ok([serializers.file(row) for row in rows])


@api_view("GET")
def file_detail(request: HttpRequest, user: User, attachment_id: str) -> HttpResponse:
    return ok(serializers.file(store.get_attachment(user, parse_id(attachment_id))))


@api_view("GET")  # type: ignore[arg-type]  # a streamed answer (FileResponse), not an HttpResponse
def file_download(request: HttpRequest, user: User, attachment_id: str) -> HttpResponseBase:
    attachment = store.get_attachment(user, parse_id(attachment_id))
    try:
        store.keep(attachment)
    except store.AttachmentTooLarge as exc:
        raise ApiError(413, str(exc)) from exc
    except store.AttachmentUnavailable as exc:
        raise ApiError(502, str(exc)) from exc
    return store.file_response(attachment, force_download=True)
