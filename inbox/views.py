"""Thin views: parse input, call one selector or service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from inbox import selectors, services
from inbox.errors import InvalidRequest
from inbox.rendering import safe_email_html


def _ids(request: HttpRequest) -> list[int]:
    try:
        return [int(v) for v in request.POST.getlist("ids") or request.GET.getlist("ids")]
    except ValueError as exc:
        raise InvalidRequest("Conversation ids must be numbers.") from exc


def _account_id(request: HttpRequest) -> int | None:
    raw = request.GET.get("account") or ""
    return int(raw) if raw.isdigit() else None


@login_required
@require_GET
def folder(request: HttpRequest, folder: str = "inbox") -> HttpResponse:
    if folder not in selectors.FOLDERS:
        raise InvalidRequest("Unknown folder.")
    account_id = _account_id(request)
    if account_id is not None:
        selectors.get_account(request.user, account_id)  # 404 for a mailbox not yours
    page = selectors.folder_page(
        request.user,
        folder,  # type: ignore[arg-type]
        account_id=account_id,
        cursor=request.GET.get("cursor"),
        search=request.GET.get("q", "").strip(),
    )
    context = {
        "folder": folder,
        "page": page,
        "account_id": account_id,
        "q": request.GET.get("q", ""),
    }
    if request.htmx and request.GET.get("cursor"):
        return render(request, "inbox/_rows.html", context)
    context["counts"] = selectors.folder_counts(request.user, account_id=account_id)
    context["accounts"] = list(selectors.accessible_accounts(request.user).order_by("kind", "address"))
    return render(request, "inbox/folder.html", context)


@login_required
@require_GET
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    convo = selectors.get_conversation(request.user, conversation_id)
    message_rows = selectors.conversation_messages(request.user, conversation_id)
    can_act = selectors.actionable_conversations(request.user).filter(pk=convo.pk).exists()
    return render(
        request,
        "inbox/conversation.html",
        {
            "conversation": convo,
            "messages_list": [(m, safe_email_html(m.html) if m.html else "") for m in message_rows],
            "can_act": can_act,
        },
    )


@login_required
@require_GET
def delete_preview(request: HttpRequest) -> HttpResponse:
    preview = services.preview_delete(request.user, _ids(request))
    return render(request, "inbox/_delete_confirm.html", {"preview": preview, "ids": _ids(request)})


@login_required
@require_POST
def bulk_action(request: HttpRequest) -> HttpResponse:
    ids = _ids(request)
    action = request.POST.get("action", "")
    if action == "archive":
        result = services.archive_conversations(request.user, ids)
        messages.success(request, f"Archived {result.count} conversation(s).")
    elif action == "unarchive":
        result = services.unarchive_conversations(request.user, ids)
        messages.success(request, f"Moved {result.count} conversation(s) back to the Inbox.")
    elif action == "delete":
        result = services.delete_conversations(request.user, ids)
        messages.success(request, f"Deleted {result.count} conversation(s).")
    elif action in ("read", "unread"):
        services.mark_read(request.user, ids, read=action == "read")
    else:
        raise InvalidRequest("Unknown action.")
    return redirect(request.POST.get("next") or reverse("inbox:folder"))


@login_required
@require_GET
def history(request: HttpRequest, kind: str, object_id: int) -> HttpResponse:
    emails = selectors.history_emails(request.user, kind, object_id)
    actionable = set(
        selectors.actionable_conversations(request.user)
        .filter(pk__in={m.conversation_id for m in emails})
        .values_list("id", flat=True)
    )
    return render(
        request,
        "inbox/_history.html",
        {"emails": emails, "actionable": actionable, "kind": kind, "object_id": object_id},
    )


@login_required
@require_POST
def delete_message(request: HttpRequest, message_id: int) -> HttpResponse:
    services.delete_messages(request.user, [message_id])
    messages.success(request, "Email deleted.")
    return redirect(request.POST.get("next") or reverse("inbox:folder"))


@login_required
@require_POST
def link(request: HttpRequest, conversation_id: int) -> HttpResponse:
    target = request.POST.get("target", "")
    raw_id = request.POST.get("object_id", "")
    object_id = int(raw_id) if raw_id.isdigit() else 0
    if target == "deal":
        services.link_deal(request.user, conversation_id, object_id)
    elif target == "lead":
        services.link_lead(request.user, conversation_id, object_id)
    elif target == "project":
        services.link_project(request.user, conversation_id, object_id)
    elif target == "unlink_project":
        services.unlink_project(request.user, conversation_id, object_id)
    elif target == "unlink":
        services.unlink_deal_or_lead(request.user, conversation_id)
    else:
        raise InvalidRequest("Unknown link target.")
    return redirect("inbox:conversation", conversation_id=conversation_id)


@login_required
@require_GET
def activity(request: HttpRequest) -> HttpResponse:
    return render(request, "inbox/activity.html", {"events": selectors.recent_audit(request.user)})


@login_required
@require_POST
def retry_change(request: HttpRequest, change_id: int) -> HttpResponse:
    services.retry_failed_change(request.user, change_id)
    messages.success(request, "The change will be pushed again.")
    return redirect("inbox:activity")
