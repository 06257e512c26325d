"""CRM list and detail pages. The emails in a detail page's History come from the inbox's
own fragment (loaded by URL), so crm never imports inbox."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.models import User
from crm import selectors


class AuthedRequest(HttpRequest):
    """What login_required guarantees a view (for the type checker)."""

    user: User  # type: ignore[assignment]


PLURALS = {
    "deal": "Deals",
    "lead": "Leads",
    "project": "Projects",
    "person": "People",
    "organization": "Organizations",
}


@login_required
@require_GET
def record_list(request: AuthedRequest, kind: str) -> HttpResponse:
    if kind not in selectors.KINDS:
        raise Http404("No such record type.")
    query = request.GET.get("q", "").strip()[:100]
    records = selectors.record_list(request.user, kind, query)
    return render(
        request,
        "crm/list.html",
        {
            "kind": kind,
            "crm_kind": kind,
            "plural": PLURALS[kind],
            "records": records,
            "query": query,
            "limit": selectors.LIST_LIMIT,
        },
    )


@login_required
@require_GET
def record_detail(request: AuthedRequest, kind: str, object_id: int) -> HttpResponse:
    record = selectors.get_record(request.user, kind, object_id)
    return render(
        request,
        "crm/detail.html",
        {
            "kind": kind,
            "crm_kind": kind,
            "plural": PLURALS[kind],
            "record": record,
            "related": selectors.record_context(request.user, kind, record),
        },
    )
