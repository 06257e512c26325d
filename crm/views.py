from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm.selectors import KINDS, company_records, get_record

_RELATED = {
    "deal": ("person", "organization", "owner"),
    "lead": ("person", "organization", "owner"),
    "person": ("organization", "owner"),
    "organization": ("owner",),
    "project": ("owner",),
}


@login_required
@require_GET
def record_list(request: HttpRequest, kind: str) -> HttpResponse:
    records = company_records(request.user, kind).select_related(*_RELATED[kind]).order_by("-id")[:200]
    return render(request, "crm/list.html", {"kind": kind, "records": records, "kinds": list(KINDS)})


@login_required
@require_GET
def record_detail(request: HttpRequest, kind: str, object_id: int) -> HttpResponse:
    record = get_record(request.user, kind, object_id)
    return render(request, "crm/detail.html", {"kind": kind, "record": record, "kinds": list(KINDS)})
