"""Compose, Reply / Reply all / Forward, drafts, Undo / Retry / Edit of a send, and the
compose settings (signature, Undo delay). Thin views: parse, call one service, render.
A service's NotFound is the page's 404 through web.middleware.InboxErrorMiddleware.

Every page works without JavaScript (forms and redirects); with it the editor formats text,
autosaves the draft, and suggests recipients from people and organizations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from crm.models import Organization, PersonEmail
from inbox import selectors
from inbox.errors import InboxError, InvalidRequest, NotAllowed, NotFound
from inbox.models import Attachment, Draft, Message, OutgoingMessage
from inbox.outgoing import forward_subject, reply_subject
from inbox.services import compose
from inbox.services.compose_files import Upload
from web.views.inbox import AuthedRequest

SUGGESTION_LIMIT = 8


def _int(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _quote(message: Message) -> str:
    """The answered message, quoted (collapsed in the editor, appended at Send)."""
    who = escape(message.from_name or message.from_address)
    when = timezone.localtime(message.sent_at).strftime("%a, %b %d, %Y at %H:%M")  # the writer's zone
    body = message.html or "<p>" + escape(message.text).replace("\n", "<br>") + "</p>"
    return f"<p>On {when}, {who} wrote:</p><blockquote>{body}</blockquote>"


def _recipients_for(mode: str, message: Message, own: str) -> tuple[str, str]:
    """To and Cc of a reply: the sender (or, for our own message, its recipients); Reply all
    adds everyone else but ourselves."""
    own = own.lower()
    ours = message.from_address.lower() == own
    to = [a["email"] for a in message.to] if ours else [message.from_address]
    cc: list[str] = []
    if mode == "reply_all":
        others = [a["email"] for a in [*message.to, *message.cc]]
        cc = [
            a for a in dict.fromkeys(others) if a.lower() != own and a.lower() not in {t.lower() for t in to}
        ]
    return ", ".join(to), ", ".join(cc)


def _signature(request: AuthedRequest) -> str:
    signature = compose.compose_settings_of(request.user).signature_html
    return f"<p><br></p><p>-- <br></p>{signature}" if signature else ""


def _page(
    request: AuthedRequest, form: dict[str, object], *, error: str = "", status: int = 200
) -> HttpResponse:
    conversation = None
    quote = ""
    forwarded: list[Attachment] = []
    conversation_id = _int(form.get("conversation_id"))
    if conversation_id is not None:
        conversation = selectors.get_conversation(request.user, conversation_id)
        reply_to_id = _int(form.get("reply_to_id"))
        message = (
            Message.objects.filter(pk=reply_to_id, conversation=conversation).first() if reply_to_id else None
        )
        if message is not None:
            quote = _quote(message)
            if form.get("mode") == "forward":
                forwarded = list(message.attachment_rows.order_by("position"))
    accounts = list(compose.sendable_accounts(request.user).order_by("address"))
    context = {
        "form": form,
        "error": error,
        "conversation": conversation,
        "quote": quote,
        "forwarded": forwarded,
        "accounts": accounts,
        "undo_seconds": compose.compose_settings_of(request.user).undo_seconds,
        "mode_title": {"reply": "Reply", "reply_all": "Reply all", "forward": "Forward"}.get(
            str(form.get("mode")), "New message"
        ),
    }
    return render(request, "inbox/compose.html", context, status=status)


@login_required
@require_GET
def new(request: AuthedRequest) -> HttpResponse:
    """Compose (c): From is a mailbox the user may send from; ?to= pre-fills recipients."""
    accounts = compose.sendable_accounts(request.user)
    account_id = _int(request.GET.get("account")) or accounts.values_list("pk", flat=True).first()
    if account_id is None:
        raise Http404("No mailbox to send from.")
    form = {
        "mode": "new",
        "account_id": account_id,
        "to": request.GET.get("to", ""),
        "subject": request.GET.get("subject", ""),
        "html": _signature(request),
    }
    for kind in CRM_KINDS:
        record_id = _int(request.GET.get(kind))
        if record_id is not None:
            record = selectors.crm_object(request.user, kind, record_id)
            form["to"] = form["to"] or ", ".join(_record_addresses(kind, record))
            if kind in compose.LINKERS:
                form["link_kind"], form["link_id"] = kind, record.pk
            form["record"] = f"{kind.capitalize()}: {record}"
            break
    return _page(request, form)


CRM_KINDS = ("deal", "lead", "project", "person", "organization")


def _record_addresses(kind: str, record: object) -> list[str]:
    """Who a mail from a record's page goes to: its contact person (primary address), or
    the person itself, or an organization's people."""
    if kind == "organization":
        people = list(record.persons.all()[:10])  # type: ignore[attr-defined]
    elif kind == "person":
        people = [record]
    else:
        contact = getattr(record, "person", None)
        people = [contact] if contact is not None else []
    addresses = []
    for person in people:
        first = person.emails.order_by("-primary", "id").first()
        if first is not None:
            addresses.append(f"{person.name} <{first.email}>")
    return addresses


@login_required
@require_GET
def reply(request: AuthedRequest, conversation_id: int) -> HttpResponse:
    """Reply (r), Reply all (a), Forward (f) on the conversation's latest message (or ?message=)."""
    mode = request.GET.get("mode", "reply")
    if mode not in ("reply", "reply_all", "forward"):
        raise Http404("No such kind of reply.")
    conversation = selectors.get_conversation(request.user, conversation_id)
    if not selectors.actionable_conversations(request.user).filter(pk=conversation.pk).exists():
        raise Http404("No such conversation.")
    # Resume this conversation's draft, if the user has one.
    draft = (
        Draft.objects.filter(author=request.user, conversation=conversation).order_by("-updated_at").first()
    )
    if draft is not None and "fresh" not in request.GET:
        return redirect("inbox:draft", draft_id=draft.pk)
    messages = Message.objects.filter(conversation=conversation)
    message_id = _int(request.GET.get("message"))
    message = (messages.filter(pk=message_id) if message_id else messages.order_by("-sent_at", "-id")).first()
    if message is None:
        raise Http404("No message to answer.")
    to, cc = ("", "") if mode == "forward" else _recipients_for(mode, message, conversation.account.address)
    subject = forward_subject(message.subject) if mode == "forward" else reply_subject(message.subject)
    html = _signature(request)
    if mode == "forward":
        html += "<p>---------- Forwarded message ----------</p>" + _quote(message)
    form = {
        "mode": mode,
        "conversation_id": conversation.pk,
        "reply_to_id": message.pk,
        "account_id": conversation.account_id,
        "to": to,
        "cc": cc,
        "subject": subject,
        "html": html,
        "quote": "1" if mode != "forward" else "",
    }
    return _page(request, form)


@login_required
@require_GET
def draft(request: AuthedRequest, draft_id: int) -> HttpResponse:
    row = compose.get_draft(request.user, draft_id)
    form = {
        "draft_id": row.pk,
        "mode": row.mode,
        "conversation_id": row.conversation_id or "",
        "reply_to_id": row.reply_to_id or "",
        "account_id": row.account_id,
        "to": ", ".join(row.to),
        "cc": ", ".join(row.cc),
        "bcc": ", ".join(row.bcc),
        "subject": row.subject,
        "html": row.html,
        "quote": "1" if row.reply_to_id and row.mode != "forward" else "",
        "files": row.files,
    }
    if row.link_kind and row.link_id is not None:
        # Written from a record's page (or taken back by Undo): Send links it again.
        try:
            record = selectors.crm_object(request.user, row.link_kind, row.link_id)
        except NotFound:
            record = None  # the record is gone (or not visible): nothing to link
        if record is not None:
            form["link_kind"], form["link_id"] = row.link_kind, row.link_id
            form["record"] = f"{row.link_kind.capitalize()}: {record}"
    return _page(request, form)


def _uploads(request: AuthedRequest) -> tuple[Upload, ...]:
    """The files chosen in the editor; one above the per-file cap is refused before it is read."""
    uploads = []
    for uploaded in request.FILES.getlist("files"):
        if uploaded.size and uploaded.size > settings.ATTACHMENT_MAX_BYTES:
            raise InvalidRequest(
                f"“{uploaded.name}” is larger than the {settings.ATTACHMENT_MAX_BYTES // 1_048_576} MB "
                "limit for one file."
            )
        uploads.append(Upload(uploaded.name or "", uploaded.content_type or "", uploaded.read()))
    return tuple(uploads)


def _input(request: AuthedRequest, *, uploads: tuple[Upload, ...] = ()) -> compose.ComposeInput:
    post = request.POST
    return compose.ComposeInput(
        account_id=_int(post.get("account_id")),
        conversation_id=_int(post.get("conversation_id")),
        reply_to_id=_int(post.get("reply_to_id")),
        mode=post.get("mode", "new"),
        to=post.get("to", ""),
        cc=post.get("cc", ""),
        bcc=post.get("bcc", ""),
        subject=post.get("subject", ""),
        html=post.get("html", ""),
        draft_id=_int(post.get("draft_id")),
        link_kind=post.get("link_kind", ""),
        link_id=_int(post.get("link_id")),
        uploads=uploads,
        # The checkbox is only on a forward's form: unticked means "without them".
        forward_files=not post.get("forward_files_shown") or post.get("forward_files") == "1",
        remove_files=tuple(i for i in (_int(v) for v in post.getlist("remove_file")) if i is not None),
    )


@login_required
@require_POST
def send(request: AuthedRequest) -> HttpResponse:
    try:
        data = _input(request, uploads=_uploads(request))
    except InvalidRequest as exc:
        return _refused(request, exc)
    if data.uploads or data.remove_files:
        # Files go into the draft first: a refusal below keeps them on the form, and Undo
        # or Edit find them there again.
        try:
            saved = compose.save_draft(request.user, data)
        except InvalidRequest as exc:
            return _refused(request, exc)
        data = replace(data, draft_id=saved.pk, uploads=(), remove_files=())
    if request.POST.get("quote") and data.reply_to_id and data.conversation_id:
        message = Message.objects.filter(
            pk=data.reply_to_id, conversation__in=selectors.actionable_conversations(request.user)
        ).first()
        if message is not None:
            data = compose.ComposeInput(**{**data.__dict__, "html": data.html + _quote(message)})
    if request.POST.get("action") == "save":
        return _save(request, data)
    try:
        outgoing = compose.send_message(request.user, data)
    except (InvalidRequest, NotAllowed) as exc:
        return _refused(request, exc, draft_id=data.draft_id)
    url = reverse("inbox:conversation", args=[outgoing.message.conversation_id])
    return redirect(f"{url}#msg-{outgoing.message_id}")


def _refused(request: AuthedRequest, exc: InboxError, *, draft_id: int | None = None) -> HttpResponse:
    """The editor again (400) with what the user wrote and why it was refused; with the draft
    the files went into, its files too."""
    form: dict[str, object] = {**request.POST.dict()}
    if draft_id is not None:
        form["draft_id"] = draft_id
        form["files"] = Draft.objects.filter(pk=draft_id).values_list("files", flat=True).first() or []
    return _page(request, form, error=str(exc), status=400)


def _save(request: AuthedRequest, data: compose.ComposeInput) -> HttpResponse:
    try:
        saved = compose.save_draft(request.user, data)
    except (InvalidRequest, NotFound) as exc:
        raise Http404(str(exc)) from exc
    return redirect("inbox:draft", draft_id=saved.pk)


@login_required
@require_POST
def autosave(request: AuthedRequest) -> JsonResponse:
    """The editor's autosave (JavaScript): {"draft_id": …}. Quote not appended: the draft
    keeps what the user wrote; the quote is added at Send."""
    try:
        saved = compose.save_draft(request.user, _input(request))
    except (InvalidRequest, NotFound) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"draft_id": saved.pk, "saved_at": saved.updated_at.isoformat()})


@login_required
@require_POST
def discard(request: AuthedRequest, draft_id: int) -> HttpResponse:
    compose.delete_draft(request.user, draft_id)
    return redirect("inbox:drafts")


@login_required
@require_GET
def drafts(request: AuthedRequest) -> HttpResponse:
    rows = (
        Draft.objects.filter(author=request.user, account__in=compose.sendable_accounts(request.user))
        .select_related("account", "conversation")
        .order_by("-updated_at")[:200]
    )
    return render(request, "inbox/drafts.html", {"drafts": rows, "folder": "drafts"})


@login_required
@require_POST
def undo(request: AuthedRequest, outgoing_id: int) -> HttpResponse:
    """Undo within the delay: back to the editor with what was written."""
    return _back_to_editor(request, compose.undo_send, outgoing_id)


@login_required
@require_POST
def retry(request: AuthedRequest, outgoing_id: int) -> HttpResponse:
    try:
        outgoing = compose.retry_send(request.user, outgoing_id)
    except NotAllowed:
        found = OutgoingMessage.objects.filter(pk=outgoing_id).select_related("message").first()
        if found is None:
            raise Http404("No such message.") from None
        outgoing = found
    return redirect(reverse("inbox:conversation", args=[outgoing.message.conversation_id]))


@login_required
@require_POST
def edit(request: AuthedRequest, outgoing_id: int) -> HttpResponse:
    """Edit a send that has not gone out: back to the editor with what was written."""
    return _back_to_editor(request, compose.edit_unsent, outgoing_id)


def _back_to_editor(
    request: AuthedRequest, take_back: Callable[[User, int], Draft], outgoing_id: int
) -> HttpResponse:
    """Undo and Edit: the send taken back into a draft, opened in the editor; or, once it is
    too late, the page that says why (409)."""
    try:
        restored = take_back(request.user, outgoing_id)
    except NotAllowed as exc:
        return render(request, "inbox/compose_too_late.html", {"reason": str(exc)}, status=409)
    return redirect("inbox:draft", draft_id=restored.pk)


@login_required
@require_GET
def suggest(request: AuthedRequest) -> HttpResponse:
    """Recipients from people (by name or address) and organizations (their people)."""
    term = request.GET.get("q", "").strip()
    for sep in (",", ";"):
        term = term.rsplit(sep, 1)[-1].strip()
    rows: list[tuple[str, str]] = []
    if len(term) >= 2 and request.user.company_id is not None:
        orgs = Organization.objects.filter(company_id=request.user.company_id, name__icontains=term)
        emails = (
            PersonEmail.objects.filter(company_id=request.user.company_id)
            .filter(
                Q(email__icontains=term) | Q(person__name__icontains=term) | Q(person__organization__in=orgs)
            )
            .select_related("person__organization")
            .order_by("-primary", "person__name")[:SUGGESTION_LIMIT]
        )
        for row in emails:
            org = f" · {row.person.organization.name}" if row.person.organization else ""
            rows.append((f"{row.person.name} <{row.email}>", f"{row.person.name}{org}"))
    return render(request, "inbox/_suggestions.html", {"rows": rows, "field": request.GET.get("field", "to")})


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: AuthedRequest) -> HttpResponse:
    """Settings › Compose: signature and the Undo-send delay."""
    error = ""
    row = compose.compose_settings_of(request.user)
    if request.method == "POST":
        raw = request.POST.get("undo_seconds", "")
        try:
            seconds = int(raw)
        except ValueError:
            seconds = -1
        try:
            row = compose.set_compose_settings(
                request.user, signature_html=request.POST.get("signature_html", ""), undo_seconds=seconds
            )
        except InvalidRequest as exc:
            error = str(exc)
        else:
            return redirect(reverse("inbox:compose_settings") + "?saved=1")
    return render(
        request,
        "inbox/compose_settings.html",
        {
            "row": row,
            "error": error,
            "saved": "saved" in request.GET,
            # Personal settings › Writing mail: the settings navigation around it.
            "section": "compose",
        },
        status=400 if error else 200,
    )
