"""Connecting a mailbox from Personal settings › Email sync: the IMAP form (checked by a
real login), "Connect Google" and "Connect Microsoft" (OAuth, see sync/oauth.py), and
reconnecting a mailbox whose sign-in stopped working.

Thin views over sync.connect, the one connect/reconnect service (the plan is asked before
any provider is contacted; a reconnect keeps the mailbox's kind, members and folders).
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.decorators import require_email_sync
from accounts.models import User
from accounts.plans import email_sync_available, upgrade_notice
from inbox.errors import InboxError, InvalidRequest, NotAllowed, NotFound, PlanLimitReached
from inbox.models import AccountKind, MailAccount, Provider
from inbox.settings_selectors import (
    can_change,
    can_manage,
    company_users,
    get_settings_account,
)
from sync import folder_settings, oauth, smtp_settings
from sync.connect import ImapLogin, connect_imap_mailbox, plan_refusal, store_mailbox
from sync.errors import ProviderAuthError, ProviderError, ProviderPermanentError, ProviderTemporaryError
from sync.providers.imap.client import SECURITY_CHOICES, default_port

SESSION_KEY = "email_sync_oauth"
SECURITY_LABELS = {
    "ssl": f"SSL/TLS (usually port {default_port('ssl')})",
    "starttls": f"STARTTLS (usually port {default_port('starttls')})",
    "none": "None — unencrypted (only for servers on a trusted network)",
}
CALLBACKS: dict[str, str] = {
    Provider.GMAIL: "connect:google_callback",
    Provider.OUTLOOK: "connect:microsoft_callback",
}


# --- forms ------------------------------------------------------------------------------------


class MailboxKindForm(forms.Form):
    """Whose mailbox it is: the user's own, or (admins) a shared team mailbox and its members."""

    kind = forms.ChoiceField(
        choices=[(AccountKind.PERSONAL, "My own mailbox"), (AccountKind.TEAM, "A shared team mailbox")],
        initial=AccountKind.PERSONAL,
        widget=forms.RadioSelect,
    )
    name = forms.CharField(required=False, max_length=200, label="Team mailbox name")
    members = forms.MultipleChoiceField(
        required=False, label="Members (who see its mail)", widget=forms.CheckboxSelectMultiple
    )

    auto_id_prefix = "kind"

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        # Two of these forms share the connect page: distinct element ids for their labels.
        kwargs.setdefault("auto_id", f"{self.auto_id_prefix}_%s")
        super().__init__(*args, **kwargs)
        self.user = user
        cast(forms.ChoiceField, self.fields["members"]).choices = [
            (str(u.pk), u.email) for u in company_users(user)
        ]
        if not user.is_company_admin:
            cast(forms.ChoiceField, self.fields["kind"]).choices = [(AccountKind.PERSONAL, "My own mailbox")]

    def chosen_members(self) -> list[User]:
        ids = [int(i) for i in self.cleaned_data.get("members") or []]
        return _company_people(self.user, ids)


class OAuthForm(MailboxKindForm):
    auto_id_prefix = "oauth"
    login_hint = forms.EmailField(
        required=False, label="E-mail address", help_text="Optional: fills in the sign-in page for you"
    )


class ImapForm(MailboxKindForm, smtp_settings.SmtpFields):
    auto_id_prefix = "imap"
    address = forms.EmailField(label="E-mail address")
    host = forms.CharField(max_length=253, label="IMAP server")
    port = forms.IntegerField(required=False, min_value=1, max_value=65535, help_text="Empty: the usual port")
    security = forms.ChoiceField(choices=[(c, SECURITY_LABELS[c]) for c in SECURITY_CHOICES], initial="ssl")
    login = forms.CharField(required=False, max_length=320, help_text="Empty: the e-mail address")
    password = forms.CharField(widget=forms.PasswordInput(render_value=False), strip=False)

    field_order = [
        "address", "host", "port", "security", "login", "password",
        *smtp_settings.SMTP_FIELD_ORDER,
        "kind", "name", "members",
    ]  # fmt: skip

    def clean_host(self) -> str:
        host = self.cleaned_data["host"].strip()
        if not host or any(c.isspace() for c in host) or "/" in host:
            raise forms.ValidationError("Enter a server name such as imap.example.com.")
        return host


# --- helpers ----------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _company_people(user: User, ids: list[int]) -> list[User]:
    """The chosen members, only ever from the acting user's company."""
    company_id = user.company_id
    if company_id is None:
        return []
    return list(User.objects.filter(pk__in=ids, company_id=company_id))


def _reconnecting(request: HttpRequest, raw: object) -> MailAccount | None:
    if raw in (None, ""):
        return None
    try:
        account_id = int(str(raw))
    except ValueError as exc:
        raise Http404("No such mailbox.") from exc
    user = _user(request)
    account = get_settings_account(user, account_id)
    if not can_manage(user, account):
        raise Http404("No such mailbox.")
    return account


def _page(
    request: HttpRequest,
    *,
    imap_form: ImapForm | None = None,
    oauth_form: OAuthForm | None = None,
    error: str = "",
    reconnect: MailAccount | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    available = email_sync_available(user)
    if imap_form is None:
        initial: dict[str, Any] = {}
        if reconnect is not None:
            config = reconnect.config or {}
            initial = {
                "address": reconnect.address,
                "host": config.get("host", ""),
                "port": config.get("port"),
                "security": config.get("security", "ssl"),
                "login": config.get("login", ""),
            }
        imap_form = ImapForm(user=user, initial=initial)
    return render(
        request,
        "sync/connect.html",
        {
            "section": "connect",
            "email_sync_available": available,
            "upgrade_notice": upgrade_notice(),
            "plan_name": user.company.get_plan_display() if user.company else "",
            "imap_form": imap_form,
            "oauth_form": oauth_form or OAuthForm(user=user),
            "google": oauth.google_configured(),
            "microsoft": oauth.microsoft_configured(),
            "is_admin": user.is_company_admin,
            "error": error,
            "reconnect": reconnect,
        },
        status=status,
    )


def describe_imap_error(exc: ProviderError, *, host: str, port: int, login: str) -> str:
    """A sentence a person understands, from what the IMAP login raised."""
    cause = exc.__cause__
    where = f"{host}:{port}"
    if isinstance(exc, ProviderAuthError):
        return (
            f"The server refused the login for {login}: check the user name and password. "
            "Some providers need an app password for mail programs."
        )
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (
            f"The secure connection to {where} failed: the server's certificate could not be "
            f"verified ({cause.verify_message}). Check the server name, or ask your provider."
        )
    if isinstance(cause, ssl.SSLError):
        return (
            f"The secure connection (TLS) to {where} failed ({cause.reason or cause}). Check the "
            f"security setting and port: SSL/TLS is usually port {default_port('ssl')}, "
            f"STARTTLS port {default_port('starttls')}."
        )
    if isinstance(cause, socket.gaierror):
        return f"The server name {host} could not be found. Check the spelling."
    if isinstance(cause, ConnectionRefusedError):
        return f"Nothing answers at {where}: the server is unreachable there. Check the server name and port."
    if isinstance(cause, TimeoutError):
        return f"{where} did not answer in time: the server is unreachable. Check the server name and port."
    if isinstance(exc, ProviderTemporaryError):
        return f"Could not connect to {where}: {exc}"
    if isinstance(exc, ProviderPermanentError) and "STARTTLS" in str(exc).upper():
        return f"{where} does not offer STARTTLS. Choose SSL/TLS or another port."
    return f"The server at {where} could not be used: {exc}"


def _connected(request: HttpRequest, account: MailAccount, *, reconnected: bool) -> HttpResponse:
    verb = "reconnected" if reconnected else "connected"
    messages.success(request, f"{account.address} is {verb}. The first sync starts in a moment.")
    return redirect("email_sync:status", account_id=account.pk)


# --- views ------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def connect(request: HttpRequest) -> HttpResponse:
    """The connect page: IMAP form, Connect Google, Connect Microsoft (when configured)."""
    return _page(request, reconnect=_reconnecting(request, request.GET.get("account")))


@login_required
@require_POST
def connect_imap(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    reconnect = _reconnecting(request, request.POST.get("account"))
    form = ImapForm(request.POST, user=user)
    if not form.is_valid():
        return _page(request, imap_form=form, reconnect=reconnect, status=400)
    data = form.cleaned_data
    login = ImapLogin(
        address=data["address"],
        host=data["host"],
        security=data["security"],
        password=data["password"],
        port=data["port"],
        login=data["login"] or "",
        smtp={name: data.get(name) for name in smtp_settings.SMTP_FIELD_ORDER},
    )
    try:
        connected = connect_imap_mailbox(
            user,
            login,
            kind=data["kind"],
            name=(data.get("name") or "").strip(),
            members=form.chosen_members(),
            reconnect=reconnect,
        )
    except PlanLimitReached as exc:
        return _page(request, imap_form=form, error=str(exc), reconnect=reconnect, status=403)
    except smtp_settings.SmtpRefused as exc:
        return _page(request, imap_form=form, error=str(exc), reconnect=reconnect, status=400)
    except ProviderError as exc:
        address = reconnect.address if reconnect else data["address"].strip().lower()
        message = describe_imap_error(
            exc, host=login.host, port=login.effective_port, login=login.effective_login(address)
        )
        return _page(request, imap_form=form, error=message, reconnect=reconnect, status=400)
    except NotFound:
        raise
    except InboxError as exc:  # an address someone else connected, not an admin
        return _page(request, imap_form=form, error=str(exc), reconnect=reconnect, status=400)
    return _connected(request, connected.account, reconnected=connected.reconnected)


def _start_oauth(request: HttpRequest, provider: str) -> HttpResponse:
    user = _user(request)
    if not oauth.configured(provider):
        raise Http404("This kind of mailbox cannot be connected on this server.")
    reconnect = _reconnecting(request, request.POST.get("account"))
    form = OAuthForm(request.POST, user=user)
    if not form.is_valid():
        return _page(request, oauth_form=form, reconnect=reconnect, status=400)
    kind = reconnect.kind if reconnect else form.cleaned_data["kind"]
    problem = plan_refusal(user, kind=kind, reconnect=reconnect)
    if problem:
        return _page(request, oauth_form=form, error=problem, reconnect=reconnect, status=403)
    redirect_uri = settings.SITE_URL.rstrip("/") + reverse(CALLBACKS[provider])
    try:
        hint = reconnect.address if reconnect else form.cleaned_data.get("login_hint") or ""
        url, flow = oauth.start(provider, redirect_uri, login_hint=hint, team=kind == "team")
    except oauth.OAuthError as exc:
        return _page(request, oauth_form=form, error=str(exc), reconnect=reconnect, status=503)
    request.session[SESSION_KEY] = {
        "provider": provider,
        "flow": flow,
        "kind": kind,
        "name": (form.cleaned_data.get("name") or "").strip(),
        "member_ids": [m.pk for m in form.chosen_members()],
        "account_id": reconnect.pk if reconnect else None,
    }
    return redirect(url)


def _finish_oauth(request: HttpRequest, provider: str, answer: dict[str, str]) -> HttpResponse:
    user = _user(request)
    pending = request.session.pop(SESSION_KEY, None)
    if not pending or pending.get("provider") != provider:
        return _page(
            request, error="This sign-in has expired or was already used. Please start again.", status=400
        )
    try:
        reconnect = _reconnecting(request, pending.get("account_id"))
    except Http404:
        return _page(request, error="The mailbox to reconnect is gone.", status=400)
    problem = plan_refusal(user, kind=pending["kind"], reconnect=reconnect)
    if problem:
        return _page(request, error=problem, reconnect=reconnect, status=403)
    try:
        mailbox = oauth.finish(provider, pending["flow"], answer)
    except oauth.OAuthError as exc:
        return _page(request, error=str(exc), reconnect=reconnect, status=400)
    if reconnect is not None and mailbox.address.lower() != reconnect.address.lower():
        return _page(
            request,
            error=f"You signed in as {mailbox.address}, but the mailbox to reconnect is "
            f"{reconnect.address}. Sign in with that account.",
            reconnect=reconnect,
            status=400,
        )
    members = _company_people(user, list(pending.get("member_ids") or []))
    try:
        connected = store_mailbox(
            user,
            provider=provider,
            address=mailbox.address,
            credentials=mailbox.credentials,
            config={},
            kind=pending["kind"],
            name=pending.get("name") or mailbox.name,
            members=members,
            reconnect=reconnect,
        )
    except NotFound:
        raise
    except InboxError as exc:
        return _page(request, error=str(exc), reconnect=reconnect, status=400)
    return _connected(request, connected.account, reconnected=connected.reconnected)


@login_required
@require_POST
def google_start(request: HttpRequest) -> HttpResponse:
    return _start_oauth(request, Provider.GMAIL)


@login_required
@require_http_methods(["GET"])
def google_callback(request: HttpRequest) -> HttpResponse:
    return _finish_oauth(request, Provider.GMAIL, request.GET.dict())


@login_required
@require_POST
def microsoft_start(request: HttpRequest) -> HttpResponse:
    return _start_oauth(request, Provider.OUTLOOK)


# Microsoft posts the answer (response_mode=form_post) from its own site, so there is no CSRF
# token; the answer's state, checked by msal against the flow in the session, plays that part.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def microsoft_callback(request: HttpRequest) -> HttpResponse:
    answer = (request.POST if request.method == "POST" else request.GET).dict()
    if not request.user.is_authenticated:
        if request.method == "POST" and not answer.pop("relayed", ""):
            # A cross-site POST carries no SameSite=Lax session cookie: post the same fields
            # again from our own page, which does carry it.
            return render(request, "sync/oauth_relay.html", {"fields": sorted(answer.items())})
        return redirect_to_login(request.get_full_path())
    answer.pop("relayed", None)
    return _finish_oauth(request, Provider.OUTLOOK, answer)


# --- IMAP folder roles ------------------------------------------------------------------------


class FolderMapForm(forms.Form):
    """Sent, Archive and Trash, each one of the folders the server lists (or none)."""

    sent = forms.ChoiceField(
        required=False, label="Sent", help_text="Mail sent from Sales Inbox is found here."
    )
    archive = forms.ChoiceField(
        required=False,
        label="Archive",
        help_text="Archived conversations are moved here when the archive setting is on.",
    )
    trash = forms.ChoiceField(
        required=False,
        label="Trash",
        help_text="Deleted conversations are moved here when the delete setting is on; "
        "mail found here is deleted in Sales Inbox.",
    )

    def __init__(self, *args: Any, folders: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "— None —"), *((name, name) for name in folders if name.upper() != "INBOX")]
        for role in ("sent", "archive", "trash"):
            cast(forms.ChoiceField, self.fields[role]).choices = choices


@login_required
@require_http_methods(["GET", "POST"])
@require_email_sync()
def imap_folders(request: HttpRequest, account_id: int) -> HttpResponse:
    """Pick the folder of each role from the server's own list (owner, or an admin for a team
    mailbox); the choice is audited. The folders are listed live, so the choice is checked
    against what the server really has."""
    user = _user(request)
    account = get_settings_account(user, account_id)
    if account.provider != Provider.IMAP:
        raise Http404("This mailbox has no IMAP folders.")
    if not can_change(user, account):
        raise NotAllowed(
            "Only the mailbox's owner, or a company admin for a team mailbox, can change its folders."
        )
    rows = folder_settings.folder_rows(account)
    current = {row.role: row.folder or "" for row in rows}
    error = ""
    try:
        available = folder_settings.server_folders(account)
    except ProviderError as exc:
        available = []
        error = (
            f"The folder list could not be read from the mail server, so nothing can be changed now: {exc}"
        )
    form = FolderMapForm(request.POST or None, folders=available, initial=current)
    status = 200
    if request.method == "POST":
        if error:
            status = 503
        elif form.is_valid():
            try:
                picked = {role: form.cleaned_data[role] for role in ("sent", "archive", "trash")}
                folder_settings.set_folder_map(user, account.pk, picked, available)
            except InvalidRequest as exc:
                error, status = str(exc), 400
            else:
                messages.success(request, f"The folders of {account.address} are saved.")
                return redirect("email_sync:status", account_id=account.pk)
        else:
            status = 400
    return render(
        request,
        "sync/imap_folders.html",
        {
            "section": "status",
            "email_sync_available": True,
            "upgrade_notice": upgrade_notice(),
            "plan_name": user.company.get_plan_display() if user.company else "",
            "account": account,
            "rows": rows,
            "form": form,
            "error": error,
            "available": available,
        },
        status=status,
    )
