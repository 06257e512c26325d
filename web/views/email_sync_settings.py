"""Personal settings › Email sync: General settings, Account (per team mailbox), sync status,
disconnect. Thin views: parse the form, call one service, redirect (post/redirect/get).

Typed errors from the services become 404/403/400 in web.middleware; a plan limit is shown
as the service words it. Connecting a mailbox lives in web/views/connect.py (it has to talk to the
provider), reached from here by URL name only: inbox never imports sync.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.decorators import require_email_sync
from accounts.models import User
from accounts.plans import email_sync_available, upgrade_notice
from inbox import services
from inbox.models import ProviderChange
from inbox.selectors import accessible_accounts, sync_switches
from inbox.settings_selectors import (
    ARCHIVE_LABEL,
    DELETE_LABEL,
    TEAM_ARCHIVE_LABEL,
    TEAM_DELETE_LABEL,
    can_change,
    can_manage,
    company_users,
    get_settings_account,
    other_team_mailboxes,
    own_mailboxes,
    recent_changes,
    sync_status,
)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required ran first
    return user


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    user = _user(request)
    base = {
        "archive_label": ARCHIVE_LABEL,
        "delete_label": DELETE_LABEL,
        "email_sync_available": email_sync_available(user),
        "upgrade_notice": upgrade_notice(),
        "plan_name": user.company.get_plan_display() if user.company else "",
    }
    return render(request, template, {**base, **context}, status=status)


def _upgrade(request: HttpRequest, *, section: str) -> HttpResponse:
    """Without email sync in the plan, an Email sync action is this notice; a POST is refused."""
    status = 403 if request.method == "POST" else 200
    return _render(request, "settings/upgrade.html", {"section": section}, status=status)


def _upgrade_page(section: str) -> Callable[[HttpRequest], HttpResponse]:
    """The refusal @require_email_sync gives on these pages: the upgrade notice."""
    return lambda request: _upgrade(request, section=section)


def _switch(request: HttpRequest, name: str) -> bool:
    return request.POST.get(name) in ("on", "1", "true")


def _switches_saved(
    request: HttpRequest,
    before: tuple[bool, bool],
    after: tuple[bool, bool],
    *,
    action: str,
    team_of: str = "",
) -> HttpResponse:
    """A switch saved as it was flipped: the switches as stored, and a toast with Undo."""
    names = ("Archive", "Delete") if not team_of else ("Team mailbox archive", "Team mailbox delete")
    said = [
        f"{name} in the external mailbox {'on' if now else 'off'}"
        for name, was, now in zip(names, before, after, strict=True)
        if was != now
    ]
    text = ("; ".join(said) or "Nothing changed") + (f" for {team_of}" if team_of else "") + ". Saved."
    return _render(
        request,
        "settings/_switches_saved.html",
        {
            "archive_on": after[0],
            "delete_on": after[1],
            "editable": True,
            "suffix": "",
            "team": bool(team_of),
            **({"archive_label": TEAM_ARCHIVE_LABEL, "delete_label": TEAM_DELETE_LABEL} if team_of else {}),
            "text": text,
            "undo": before if before != after and not request.POST.get("undo") else None,
            "action": action,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@require_email_sync(_upgrade_page("general"), methods=["POST"])
def general(request: HttpRequest) -> HttpResponse:
    """Personal settings › Email sync › General settings."""
    user = _user(request)
    if request.method == "POST":
        before = sync_switches(user)
        archive, delete = _switch(request, "archive_in_provider"), _switch(request, "delete_in_provider")
        services.set_personal_switches(user, archive=archive, delete=delete)
        if getattr(request, "htmx", False):
            return _switches_saved(request, before, (archive, delete), action=request.path)
        messages.success(request, "Email sync settings saved.")
        return redirect("email_sync:general")
    archive, delete = sync_switches(user)
    mailboxes = own_mailboxes(user)
    return _render(
        request,
        "settings/general.html",
        {
            "section": "general",
            "archive_on": archive,
            "delete_on": delete,
            "personal_mailboxes": [m for m in mailboxes if not m.is_team],
            "team_member_mailboxes": [m for m in mailboxes if m.is_team],
            "other_team_mailboxes": other_team_mailboxes(user),
        },
    )


@login_required
@require_http_methods(["GET"])
def account(request: HttpRequest, account_id: int) -> HttpResponse:
    """Personal settings › Email sync › Account: one mailbox's switches and members."""
    user = _user(request)
    mailbox = get_settings_account(user, account_id)
    # Without email sync in the plan the page stays: what was synced stays readable and
    # Disconnect stays reachable (the template shows the upgrade notice, not the switches).
    archive, delete = sync_switches(mailbox)
    member_ids = {m.pk for m in mailbox.members.all()}
    labels = (
        {"archive_label": TEAM_ARCHIVE_LABEL, "delete_label": TEAM_DELETE_LABEL} if mailbox.is_team else {}
    )
    return _render(
        request,
        "settings/account.html",
        {
            **labels,
            "section": "account",
            "account": mailbox,
            "can_manage": can_manage(user, mailbox),
            "can_change": can_change(user, mailbox),
            "is_member": mailbox.is_team and user.pk in member_ids,
            "archive_on": archive,
            "delete_on": delete,
            "people": [(u, u.pk in member_ids) for u in company_users(user)] if mailbox.is_team else [],
            "members": [m for m in mailbox.members.all()],
        },
    )


@login_required
@require_POST
@require_email_sync(_upgrade_page("account"))
def account_switches(request: HttpRequest, account_id: int) -> HttpResponse:
    """A team mailbox's two switches: company admins only (the service says so)."""
    user = _user(request)
    mailbox = get_settings_account(user, account_id)
    before = (mailbox.archive_in_provider, mailbox.delete_in_provider)
    archive, delete = _switch(request, "archive_in_provider"), _switch(request, "delete_in_provider")
    services.set_team_switches(user, mailbox.pk, archive=archive, delete=delete)
    if getattr(request, "htmx", False):
        return _switches_saved(request, before, (archive, delete), action=request.path, team_of=str(mailbox))
    messages.success(request, f"Email sync settings of {mailbox} saved.")
    return redirect("email_sync:account", account_id=mailbox.pk)


@login_required
@require_POST
@require_email_sync(_upgrade_page("account"))
def account_members(request: HttpRequest, account_id: int) -> HttpResponse:
    """Who sees a team mailbox's mail: company admins pick the members."""
    user = _user(request)
    mailbox = get_settings_account(user, account_id)
    try:
        ids = [int(v) for v in request.POST.getlist("members")]
    except ValueError:
        return HttpResponseBadRequest("Members must be user ids.")
    # Ids of other companies' users are passed on, so the service refuses the whole change.
    chosen = list(User.objects.filter(pk__in=ids))
    if len(chosen) != len(set(ids)):
        return HttpResponseBadRequest("Some of the chosen people do not exist.")
    services.set_team_members(user, mailbox.pk, chosen)
    messages.success(request, f"Members of {mailbox} saved.")
    return redirect("email_sync:account", account_id=mailbox.pk)


@login_required
@require_http_methods(["GET"])
def status(request: HttpRequest, account_id: int) -> HttpResponse:
    """Sync status of one mailbox; the progress part alone when htmx polls it."""
    user = _user(request)
    mailbox = get_settings_account(user, account_id)
    context = {
        "section": "status",
        "account": mailbox,
        "status": sync_status(mailbox),
        "can_manage": can_manage(user, mailbox),
        "can_change": can_change(user, mailbox),
        "can_retry": email_sync_available(user) and accessible_accounts(user).filter(pk=mailbox.pk).exists(),
    }
    if getattr(request, "htmx", False) and request.GET.get("part") == "progress":
        return _render(request, "settings/_status_state.html", context)
    context["changes"] = recent_changes(mailbox)
    return _render(request, "settings/status.html", context)


@login_required
@require_POST
@require_email_sync(_upgrade_page("status"))
def resume(request: HttpRequest, account_id: int) -> HttpResponse:
    """Lift a pause by the mass-delete guard after the user checked the mailbox."""
    user = _user(request)
    mailbox = get_settings_account(user, account_id)
    services.resume_mailbox(user, mailbox.pk)
    messages.success(request, f"Sync of {mailbox} resumed.")
    return redirect("email_sync:status", account_id=mailbox.pk)


@login_required
@require_http_methods(["GET", "POST"])
def disconnect(request: HttpRequest, account_id: int) -> HttpResponse:
    """Stop syncing; the confirm form asks whether the synced mail stays or goes."""
    user = _user(request)
    mailbox = get_settings_account(user, account_id)
    if request.method == "GET":
        return _render(
            request,
            "settings/disconnect.html",
            {
                "section": "account",
                "account": mailbox,
                "can_change": can_change(user, mailbox),
                "conversations": sync_status(mailbox).conversations,
            },
        )
    choice = request.POST.get("mail")
    if choice not in ("keep", "remove"):
        return HttpResponseBadRequest("Choose whether to keep or remove the synced mail.")
    name = str(mailbox)
    # Allowed on every plan: leaving must never depend on paying.
    remaining = services.disconnect_mailbox(user, mailbox.pk, keep_mail=choice == "keep")
    if remaining is None:
        messages.success(request, f"{name} was disconnected and its synced mail removed from Sales Inbox.")
        return redirect("email_sync:general")
    messages.success(request, f"{name} was disconnected. Its synced mail stays in Sales Inbox.")
    return redirect("email_sync:status", account_id=remaining.pk)


@login_required
@require_POST
@require_email_sync(_upgrade_page("general"))
def retry_change(request: HttpRequest, change_id: int) -> HttpResponse:
    """ "Retry" on a failed provider change: a fresh set of attempts, pushed now."""
    user = _user(request)
    change: ProviderChange = services.retry_failed_change(user, change_id)
    messages.success(request, f"{change.get_kind_display()} will be tried again.")
    return redirect("email_sync:status", account_id=change.account_id)
