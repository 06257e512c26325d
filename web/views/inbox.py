"""Thin views: parse input, call one selector or service, render.

Every page works without JavaScript (plain forms and redirects); with htmx the same
endpoints answer with fragments that update the page in place: rows leave or change,
the folder counts follow, and a toast (with "Undo" after archiving) says what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget
from django_htmx.middleware import HtmxDetails

from accounts.models import User
from crm.selectors import KINDS as CRM_KINDS
from crm.selectors import linkable_records
from inbox import attachments, selectors, services
from inbox.errors import InvalidRequest
from inbox.models import Conversation, Message
from web.rendering import avatar_hue, decorate_rows, email_document, initials, short_time


class AuthedRequest(HttpRequest):
    """What login_required and HtmxMiddleware guarantee a view (for the type checker)."""

    user: User  # type: ignore[assignment]
    htmx: HtmxDetails


FOLDER_TITLES = {"inbox": "Inbox", "sent": "Sent", "archive": "Archive", "all": "All mail"}
# Search looks through all mail; a folder narrows it (as in Gmail and Pipedrive).
SEARCH_FILTERS = [("all", "All mail"), ("inbox", "Inbox"), ("sent", "Sent"), ("archive", "Archive")]
TOAST_KEY = "inbox_toast"


# -- input parsing -----------------------------------------------------------------------


def _ids(request: AuthedRequest) -> list[int]:
    data = request.POST if request.method == "POST" else request.GET
    if data.get("all_matching") == "1":
        # "Select all N": every conversation of the list, not only the rows on screen.
        state = ListState.parse(data)
        return selectors.matching_ids(
            request.user,
            cast(selectors.SearchFolder, state.folder),
            account_id=state.account_id,
            query=state.q,
        )
    raw = request.POST.getlist("ids") or request.GET.getlist("ids")
    try:
        return sorted({int(v) for v in raw})
    except ValueError as exc:
        raise InvalidRequest("Conversation ids must be numbers.") from exc


@dataclass(frozen=True)
class ListState:
    """Which list the user is looking at: folder, mailbox and search (from GET or POST)."""

    folder: str = "inbox"
    account_id: int | None = None
    q: str = ""

    @classmethod
    def parse(cls, data: QueryDict, folder: str | None = None) -> ListState:
        folder = folder or data.get("folder") or "inbox"
        q = (data.get("q") or "").strip()[:200]
        if folder not in selectors.FOLDERS and not (folder == "all" and q):
            raise InvalidRequest("Unknown folder.")
        raw = data.get("account") or ""
        return cls(folder, int(raw) if raw.isdigit() else None, q)

    def params(self, **extra: object) -> str:
        values: dict[str, object] = {}
        if self.account_id:
            values["account"] = self.account_id
        if self.q:
            values["q"] = self.q
        values.update({k: v for k, v in extra.items() if v})
        return ("?" + urlencode(values)) if values else ""

    @property
    def url(self) -> str:
        if self.folder == "inbox" and not self.q:
            return reverse("inbox:folder") + self.params()
        return reverse("inbox:folder_named", args=[self.folder]) + self.params()

    def folder_url(self, folder: str) -> str:
        """Another folder of the same mailbox (the search does not carry over)."""
        path = reverse("inbox:folder") if folder == "inbox" else reverse("inbox:folder_named", args=[folder])
        return path + ListState(folder, self.account_id).params()


@dataclass(frozen=True)
class Count:
    """A folder count for display; counts stop at the cap ("1,000+")."""

    n: int
    capped: bool

    def __str__(self) -> str:
        return f"{self.n:,}+" if self.capped else f"{self.n:,}"

    def __bool__(self) -> bool:
        return self.n > 0


def _counts(
    request: AuthedRequest, account_id: int | None = None, mailboxes: selectors.Mailboxes | None = None
) -> dict[str, Count]:
    return _as_counts(selectors.nav_counts(request.user, account_id=account_id, mailboxes=mailboxes))


def _as_counts(raw: dict[str, int]) -> dict[str, Count]:
    return {name: Count(n, n >= selectors.COUNT_CAP) for name, n in raw.items()}


@dataclass
class Toast:
    text: str
    undo_action: str = ""
    ids: list[int] = field(default_factory=list)
    link: str = ""
    link_text: str = ""

    def as_dict(self) -> dict[str, object]:
        return self.__dict__.copy()


def _pop_toast(request: AuthedRequest) -> Toast | None:
    data = request.session.pop(TOAST_KEY, None)
    return Toast(**data) if isinstance(data, dict) else None


def _without_undo(toast: Toast | None) -> Toast | None:
    """Undo acts on a list; a toast shown elsewhere only reports."""
    if toast is not None:
        toast.undo_action, toast.ids = "", []
    return toast


def _safe_next(request: AuthedRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


def _noun(n: int, word: str = "conversation") -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


# -- the folder list -----------------------------------------------------------------------


def _page(
    request: AuthedRequest, state: ListState, cursor: str | None, mailboxes: selectors.Mailboxes
) -> selectors.FolderPage:
    if state.account_id is not None:
        mailboxes.get(state.account_id)  # 404 for a mailbox not yours
    # ListState.parse checked the folder name; "all" only comes with a search.
    if state.q:
        folder = cast(selectors.SearchFolder, state.folder)
        page = selectors.search_page(
            request.user, folder, state.q, account_id=state.account_id, cursor=cursor, mailboxes=mailboxes
        )
    else:
        page = selectors.folder_page(
            request.user,
            cast(selectors.Folder, state.folder),
            account_id=state.account_id,
            cursor=cursor,
            mailboxes=mailboxes,
        )
    decorate_rows(page.conversations, state.folder, state.account_id)
    return page


def _nav_context(
    request: AuthedRequest, state: ListState, mailboxes: selectors.Mailboxes
) -> dict[str, object]:
    accounts = list(mailboxes.accounts)
    return {
        "state": state,
        "counts": _counts(request, state.account_id, mailboxes),
        "accounts": accounts,
        "current_account": next((a for a in accounts if a.pk == state.account_id), None),
        "folder_urls": {f: state.folder_url(f) for f in selectors.FOLDERS},
    }


@never_cache  # Back after a delete must ask again, not show the page as it was
@login_required
@require_GET
def folder(request: AuthedRequest, folder: str = "inbox") -> HttpResponse:
    if folder == "all" and not (request.GET.get("q") or "").strip():
        # "All mail" is a search filter: an emptied search box goes back to the Inbox.
        raw = request.GET.get("account") or ""
        return redirect(ListState("inbox", int(raw) if raw.isdigit() else None).url)
    state = ListState.parse(request.GET, folder)
    cursor = request.GET.get("cursor") or None
    # The user's mailboxes, read once: the rows, the counts and the sidebar's list use them.
    mailboxes = selectors.user_mailboxes(request.user)
    page = _page(request, state, cursor, mailboxes)
    context: dict[str, object] = {"state": state, "page": page, "folder": state.folder}
    if request.htmx and cursor:
        return render(request, "inbox/_rows.html", context)
    context.update(_nav_context(request, state, mailboxes))
    context["title"] = FOLDER_TITLES[state.folder]
    context["search_filters"] = SEARCH_FILTERS
    context["toast"] = _pop_toast(request)
    return render(request, "inbox/folder.html", context)


# -- actions -------------------------------------------------------------------------------


def _apply(request: AuthedRequest, action: str, ids: list[int]) -> Toast:
    """Call the one service the action names; say what happened."""
    user = request.user
    if action == "archive":
        result = services.archive_conversations(user, ids)
        if not result.count:
            return Toast("Nothing to archive: already in the Archive.")
        return Toast(f"Archived {_noun(result.count)}.", undo_action="unarchive", ids=result.conversation_ids)
    if action == "unarchive":
        result = services.unarchive_conversations(user, ids)
        if not result.count:
            return Toast("Nothing to move: already in the Inbox.")
        return Toast(
            f"Moved {_noun(result.count)} to the Inbox.", undo_action="archive", ids=result.conversation_ids
        )
    if action == "delete":
        result = services.delete_conversations(user, ids)
        toast = Toast(f"Deleted {_noun(result.count)}.")
        if result.changes:
            toast.text += " The external mailbox is updated in the background."
            toast.link, toast.link_text = reverse("inbox:activity"), "See activity"
        return toast
    if action in ("read", "unread"):
        changed = services.mark_read(user, ids, read=action == "read")
        return Toast(f"Marked {_noun(changed)} as {action}.")
    raise InvalidRequest("Unknown action.")


@login_required
@require_POST
def bulk_action(request: AuthedRequest) -> HttpResponse:
    ids = _ids(request)
    if not ids:
        raise InvalidRequest("Select at least one conversation.")
    action = request.POST.get("action", "")
    state = ListState.parse(request.POST)
    if action == "delete" and request.POST.get("confirmed") != "1":
        # Delete cannot be undone: whatever sent it, it is asked first (decision 5).
        return _delete_confirmation(request, ids, state, request.POST.get("origin", "list"))
    toast = _apply(request, action, ids)
    if request.POST.get("undo"):
        toast.text = toast.text.rstrip(".") + " (undone)."
        toast.undo_action, toast.ids = "", []
    origin = request.POST.get("origin", "list")
    if origin == "conversation" or not request.htmx:
        request.session[TOAST_KEY] = toast.as_dict()
        # Archived or deleted from the conversation view: back to the list it came from.
        # (Mark unread too: staying would read it again.)
        leaves = origin == "conversation" and action in ("archive", "delete", "unread")
        target = state.url if leaves else _safe_next(request, state.url)
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    return _list_update(request, state, action, ids, toast)


def _list_update(
    request: AuthedRequest, state: ListState, action: str, ids: list[int], toast: Toast
) -> HttpResponse:
    """Out-of-band fragments: changed rows replaced, departed rows removed, counts, toast."""
    context: dict[str, object] = {"state": state, "folder": state.folder, "toast": toast}
    mailboxes = selectors.user_mailboxes(request.user)
    if request.POST.get("undo"):
        # Undo brings rows back in their place: re-render the list from the top.
        context["page"] = _page(request, state, None, mailboxes)
        context["refresh_list"] = True
    else:
        rows = [] if action == "delete" else selectors.conversation_rows(request.user, ids)
        staying = [c for c in rows if selectors.in_folder(c, state.folder)]
        decorate_rows(staying, state.folder, state.account_id)
        context["replaced"] = staying
        context["removed"] = sorted(set(ids) - {c.pk for c in staying})
        context["checked"] = set(ids) if action in ("read", "unread") else set()
    context.update(_nav_context(request, state, mailboxes))
    return render(request, "inbox/_list_update.html", context)


@login_required
@require_GET
def delete_preview(request: AuthedRequest) -> HttpResponse:
    ids = _ids(request)
    if not ids:
        raise InvalidRequest("Select at least one conversation.")
    return _delete_confirmation(request, ids, ListState.parse(request.GET), request.GET.get("origin", "list"))


def _delete_confirmation(
    request: AuthedRequest, ids: list[int], state: ListState, origin: str
) -> HttpResponse:
    """The dialog (htmx) or page (no JavaScript) that says what a delete will do."""
    context = {
        "preview": services.preview_delete(request.user, ids),
        "ids": ids,
        "state": state,
        "origin": origin,
    }
    template = "inbox/_delete_confirm.html" if request.htmx else "inbox/delete_confirm_page.html"
    return render(request, template, context)


# -- the conversation ----------------------------------------------------------------------


def _person_cards(conversation: Conversation) -> tuple[list[dict[str, object]], list[object]]:
    """The side panel's people (CRM persons first) and their organizations, from prefetches."""
    own = conversation.account.address.lower()
    people: list[dict[str, object]] = []
    organizations: dict[int, object] = {}
    for p in conversation.participants.all():
        if p.address.lower() == own:
            continue
        name = p.person.name if p.person else (p.name or p.address)
        people.append(
            {
                "participant": p,
                "person": p.person,
                "name": name,
                "initials": initials(name),
                "hue": avatar_hue(p.address),
            }
        )
        if p.person and p.person.organization:
            organizations[p.person.organization.pk] = p.person.organization
    people.sort(key=lambda card: card["person"] is None)
    return people, list(organizations.values())


def _side_context(request: AuthedRequest, conversation: Conversation, can_act: bool) -> dict[str, object]:
    people, organizations = _person_cards(conversation)
    return {
        "conversation": conversation,
        "can_act": can_act,
        "people": people,
        "organizations": organizations,
    }


@never_cache  # Back after a delete must ask again, not show the page as it was
@login_required
@require_GET
def conversation(request: AuthedRequest, conversation_id: int) -> HttpResponse:
    # One read of the user's mailbox ids serves the may-act check, j/k and the counts.
    account_ids = selectors.accessible_account_ids(request.user)
    convo, message_rows = selectors.conversation_with_messages(request.user, conversation_id)
    can_act = convo.account_id in account_ids  # actionable: one of the user's mailboxes
    if can_act:
        services.read_on_open(request.user, convo)  # no write when it is already read
    # The folder it was opened from (for Back and j/k), else the one it is in now.
    asked = request.GET.get("folder", "")
    folder = cast(selectors.Folder, asked) if asked in selectors.FOLDERS else selectors.folder_of(convo)
    raw_account = request.GET.get("account", "")
    state = ListState(folder, int(raw_account) if raw_account.isdigit() else None)
    # Neighbours and navigation counts in one round trip (issue 23: ≤ 8 queries per page).
    neighbours, raw_counts = selectors.neighbours_and_counts(convo, folder, account_ids)
    items = []
    rows = attachments.files_by_message(request.user, message_rows)
    sending = selectors.send_states(request.user, [m.pk for m in message_rows if m.direction == "out"])
    for message in message_rows:
        files = attachments.message_files(request.user, message, rows[message.pk], request.build_absolute_uri)
        body = (
            email_document(message.html, inline_images=files.inline_images, inline_source=files.inline_source)
            if message.html
            else None
        )
        name = message.from_name or message.from_address
        items.append(
            {
                "message": message,
                "files": files.listed,
                "body": body,
                "initials": initials(name),
                "hue": avatar_hue(message.from_address),
                "outgoing": sending.get(message.pk),
            }
        )
    context = {
        **_side_context(request, convo, can_act),
        "items": items,
        "state": state,
        "neighbours": neighbours,
        "back_url": state.url,
        "toast": _without_undo(_pop_toast(request)),
        "counts": _as_counts(raw_counts),
        "folder": folder,
        "folder_urls": {f: ListState(f).url for f in selectors.FOLDERS},
    }
    return render(request, "inbox/conversation.html", context)


@login_required
@require_GET
def message_body(request: AuthedRequest, message_id: int) -> HttpResponse:
    """One message's body again, with remote images when the user asked for them."""
    message = selectors.get_message(request.user, message_id)
    allow = request.GET.get("images") == "1"
    rows = attachments.files_by_message(request.user, [message])[message.pk]
    files = attachments.message_files(request.user, message, rows, request.build_absolute_uri)
    body = (
        email_document(
            message.html,
            allow_images=allow,
            inline_images=files.inline_images,
            inline_source=files.inline_source,
        )
        if message.html
        else None
    )
    return render(request, "inbox/_message_body.html", {"message": message, "body": body, "allowed": allow})


@login_required
@require_GET
def picker(request: AuthedRequest, conversation_id: int) -> HttpResponse:
    """Deals, leads and projects to link, searched as the user types."""
    convo = selectors.get_conversation(request.user, conversation_id)
    if not selectors.actionable_conversations(request.user).filter(pk=convo.pk).exists():
        raise InvalidRequest("This conversation is read-only for you.")
    query = request.GET.get("q", "").strip()[:100]
    people = [p.person for p in convo.participants.all() if p.person]
    options = linkable_records(
        request.user,
        query,
        person_ids=[p.pk for p in people],
        organization_ids=[p.organization_id for p in people if p.organization_id],
    )
    return render(
        request,
        "inbox/_picker_results.html",
        {"conversation": convo, "options": options, "query": query},
    )


def _replace_link_confirmation(
    request: AuthedRequest, convo: Conversation, target: str, object_id: int
) -> HttpResponse:
    """ "Link to lead X instead of deal Y?" — a dialog (htmx) or a page (no JavaScript)."""
    current = convo.deal or convo.lead
    context = {
        "conversation": convo,
        "current": current,
        "current_kind": "deal" if convo.deal_id else "lead",
        "new": selectors.crm_object(request.user, target, object_id),
        "target": target,
        "object_id": object_id,
    }
    if request.htmx:
        response = render(request, "inbox/_link_replace_confirm.html", context)
        return retarget(reswap(response, "innerHTML"), "#dialog-slot")
    return render(request, "inbox/link_replace_confirm_page.html", context)


_LINKS = {
    "deal": services.link_deal,
    "lead": services.link_lead,
    "project": services.link_project,
    "unlink_project": services.unlink_project,
}


@login_required
@require_POST
def link(request: AuthedRequest, conversation_id: int) -> HttpResponse:
    target = request.POST.get("target", "")
    raw_id = request.POST.get("object_id", "")
    object_id = int(raw_id) if raw_id.isdigit() else 0
    if target in ("deal", "lead") and request.POST.get("replace") != "1":
        # A conversation has one deal or one lead: replacing the one it has is asked first.
        convo = selectors.get_conversation(request.user, conversation_id)
        linked_now = convo.deal_id if target == "deal" else convo.lead_id
        if (convo.deal_id or convo.lead_id) and linked_now != object_id:
            return _replace_link_confirmation(request, convo, target, object_id)
    if target == "unlink":
        services.unlink_deal_or_lead(request.user, conversation_id)
        toast = Toast("Unlinked.")
    elif target in _LINKS:
        _LINKS[target](request.user, conversation_id, object_id)
        toast = Toast(
            "Unlinked from the project." if target == "unlink_project" else f"Linked to the {target}."
        )
    else:
        raise InvalidRequest("Unknown link target.")
    if not request.htmx:
        request.session[TOAST_KEY] = toast.as_dict()
        return redirect("inbox:conversation", conversation_id=conversation_id)
    convo = selectors.get_conversation(request.user, conversation_id)
    context = {**_side_context(request, convo, True), "oob_toast": toast}
    return render(request, "inbox/_sidepanel.html", context)


# -- History in CRM detail pages -------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    message: Message
    time: str
    initials: str
    hue: int


def _history_context(request: AuthedRequest, kind: str, object_id: int) -> dict[str, object]:
    emails = selectors.history_emails(request.user, kind, object_id)
    actionable = set(
        selectors.actionable_conversations(request.user)
        .filter(pk__in={m.conversation_id for m in emails})
        .values_list("id", flat=True)
    )
    now = timezone.now()
    rows = [
        HistoryRow(
            m,
            short_time(m.sent_at, now),
            initials(m.from_name or m.from_address),
            avatar_hue(m.from_address),
        )
        for m in emails
    ]
    return {
        "rows": rows,
        "actionable": actionable,
        "kind": kind,
        "object_id": object_id,
        "limited": len(emails) >= 100,
        "record_url": reverse(f"crm:{kind}", args=[object_id]),
    }


@login_required
@require_GET
def history(request: AuthedRequest, kind: str, object_id: int) -> HttpResponse:
    return render(request, "inbox/_history.html", _history_context(request, kind, object_id))


@login_required
@require_http_methods(["GET", "POST"])
def delete_message(request: AuthedRequest, message_id: int) -> HttpResponse:
    """GET: the confirmation ("Delete this email"); POST: delete it through the service."""
    kind = request.POST.get("kind") or request.GET.get("kind") or ""
    kind = kind if kind in CRM_KINDS else ""
    raw_object = request.POST.get("object_id") or request.GET.get("object_id") or ""
    object_id = int(raw_object) if raw_object.isdigit() else None
    if request.method == "GET":
        context = {
            "preview": selectors.preview_message_delete(request.user, message_id),
            "kind": kind,
            "object_id": object_id,
            "next": request.GET.get("next", ""),
        }
        template = "inbox/_message_delete_confirm.html" if request.htmx else "inbox/delete_confirm_page.html"
        return render(request, template, context)
    services.delete_messages(request.user, [message_id])
    toast = Toast("Email deleted.")
    if request.htmx and kind and object_id is not None:
        context = {**_history_context(request, kind, object_id), "toast": toast, "oob": True}
        return render(request, "inbox/_history_update.html", context)
    request.session[TOAST_KEY] = toast.as_dict()
    return redirect(_safe_next(request, reverse("inbox:folder")))


# -- activity -------------------------------------------------------------------------------


@never_cache  # Back after a delete must ask again, not show the page as it was
@login_required
@require_GET
def activity(request: AuthedRequest) -> HttpResponse:
    return render(
        request,
        "inbox/activity.html",
        {
            "events": selectors.recent_audit(request.user),
            "toast": _without_undo(_pop_toast(request)),
            "counts": _counts(request),
            "folder_urls": {f: ListState(f).url for f in selectors.FOLDERS},
        },
    )


@login_required
@require_GET
def nav_counts(request: AuthedRequest) -> HttpResponse:
    """The folder counts for pages outside the inbox (CRM pages never import inbox)."""
    return render(request, "inbox/_nav_counts.html", {"counts": _counts(request)})


@login_required
@require_POST
def retry_change(request: AuthedRequest, change_id: int) -> HttpResponse:
    services.retry_failed_change(request.user, change_id)
    request.session[TOAST_KEY] = Toast("The change will be pushed again.").as_dict()
    return redirect("inbox:activity")
