"""Sending mail above Graph's 4 MB request limit: ``sendMail`` takes the whole MIME in one
request, so a message with large files goes as a draft instead.

1. ``POST {mailbox}/messages`` with the message *without its files* as MIME (base64,
   ``text/plain``): a draft in Drafts with the app's own Message-ID, In-Reply-To,
   References and Bcc, exactly as ``sendMail`` would have sent them (Graph lets a JSON
   draft carry only ``x-`` headers, so a JSON draft could not thread the reply);
2. each file: below 3 MB one ``POST …/attachments`` (a fileAttachment with contentBytes);
   from 3 MB an upload session (``…/attachments/createUploadSession``), its bytes PUT in
   chunks of 3.75 MB (a multiple of 320 KB, below 4 MB) with Content-Range and no
   Authorization header;
3. ``POST …/messages/{draft}/send``; Exchange files it in Sent Items.

Exactly once: the draft's id and ``internetMessageId`` are recorded (``progress``) as soon
as Graph created it, and ``draft_ready`` once every file is on it — before the send is
asked. The send itself follows the same rules as ``sendMail`` (``send.py``): ``data_sent``
right before the request leaves, Sent Items looked up by ``internetMessageId`` before any
retry. A retry that finds a recorded draft which never was asked to send: reused when it was
ready and is still a draft; otherwise (files half uploaded) deleted — only after Graph says
it is still a draft — and built again.
"""

from __future__ import annotations

import base64
import contextlib
import email.message
import email.parser
import email.policy
from dataclasses import dataclass
from typing import Any

from sync.errors import ProviderTemporaryError
from sync.providers.outlook.client import GraphClient, GraphNotFound, quote_id

SEND_MAIL_MAX = 4 * 1024 * 1024  # Graph's request limit: sendMail's body is the MIME's base64
SMALL_FILE = 3 * 1024 * 1024  # from here, Graph wants an upload session
UPLOAD_CHUNK = 12 * 320 * 1024  # 3.75 MB: a multiple of 320 KB, below 4 MB


@dataclass(frozen=True)
class DraftFile:
    name: str
    content_type: str
    data: bytes
    inline: bool
    content_id: str


def too_large_for_send_mail(mime: bytes) -> bool:
    return (len(mime) + 2) // 3 * 4 > SEND_MAIL_MAX


def split_files(mime: bytes) -> tuple[bytes, list[DraftFile]]:
    """The message without its files (headers kept byte for byte), and its files. A
    message that is not multipart/mixed has no files: it is returned whole."""
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(mime)
    boundary = parsed.get_boundary()
    if parsed.get_content_type() != "multipart/mixed" or not boundary:
        return mime, []
    end = min((i for i in (mime.find(b"\r\n\r\n"), mime.find(b"\n\n")) if i >= 0), default=len(mime))
    newline = b"\r\n" if mime[end : end + 4] == b"\r\n\r\n" else b"\n"
    head, body = mime[:end], mime[end + 2 * len(newline) :]
    delimiter = b"--" + boundary.encode()
    segments = body.split(delimiter)
    if len(segments) < 3:
        return mime, []
    first = segments[1]  # segments[0] is the preamble
    kept = head + newline + newline + delimiter + first + delimiter + b"--" + newline
    files = []
    for part in list(parsed.iter_parts())[1:]:
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):  # an attached message: its bytes as they are
            inner = part.get_payload(0) if part.is_multipart() else None
            data = inner.as_bytes() if isinstance(inner, email.message.Message) else b""
        files.append(
            DraftFile(
                name=part.get_filename() or "attachment",
                content_type=part.get_content_type(),
                data=data,
                inline=part.get_content_disposition() == "inline",
                content_id=str(part.get("Content-ID") or "").strip().strip("<>"),
            )
        )
    return kept, files


def create_draft(graph: GraphClient, mime: bytes) -> dict[str, Any]:
    response = graph.request(
        "POST",
        graph.url("/messages"),
        data=base64.b64encode(mime),
        content_type="text/plain",
        what="creating the draft to send",
    )
    return dict(response.json())


def attach(graph: GraphClient, draft_id: str, item: DraftFile) -> None:
    base = graph.url(f"/messages/{quote_id(draft_id)}/attachments")
    what = f"attaching “{item.name}”"
    if len(item.data) < SMALL_FILE:
        resource: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": item.name,
            "contentType": item.content_type,
            "contentBytes": base64.b64encode(item.data).decode(),
            "isInline": item.inline,
        }
        if item.content_id:
            resource["contentId"] = item.content_id
        graph.request("POST", base, json_body=resource, what=what)
        return
    attachment: dict[str, Any] = {
        "attachmentType": "file",
        "name": item.name,
        "size": len(item.data),
        "contentType": item.content_type,
        "isInline": item.inline,
    }
    if item.content_id:
        attachment["contentId"] = item.content_id
    session = graph.request(
        "POST", f"{base}/createUploadSession", json_body={"AttachmentItem": attachment}, what=what
    ).json()
    upload_url = str(session.get("uploadUrl") or "")
    if not upload_url:
        raise ProviderTemporaryError(f"Graph gave no upload URL ({what})")
    for start in range(0, len(item.data), UPLOAD_CHUNK):
        graph.put_upload(
            upload_url, item.data[start : start + UPLOAD_CHUNK], start=start, total=len(item.data), what=what
        )


def still_a_draft(graph: GraphClient, draft_id: str) -> bool:
    try:
        found = graph.get_json(graph.url(f"/messages/{quote_id(draft_id)}"), params={"$select": "id,isDraft"})
    except GraphNotFound:
        return False
    return bool(found.get("isDraft"))


def delete_draft(graph: GraphClient, draft_id: str) -> None:
    """A draft of ours that was never asked to send: Graph must say it still is a draft."""
    if still_a_draft(graph, draft_id):
        with contextlib.suppress(GraphNotFound):
            graph.request(
                "DELETE", graph.url(f"/messages/{quote_id(draft_id)}"), what="deleting an unsent draft"
            )
