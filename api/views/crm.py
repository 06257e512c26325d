"""/api/v1/ deals, persons, organizations, leads — company-scoped, in Pipedrive's v1 shapes.

Pipedrive moved deals, persons and organizations to /api/v2/ (api/views/v2.py); these v1
routes stay for older clients. Leads are v1-only, as at Pipedrive.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from accounts.models import User
from api import selectors, serializers, services
from api.http import api_view, choice_param, ok, ok_flat_page, ok_page, pagination, parse_id, request_body


def _mail_messages(request: HttpRequest, user: User, kind: str, record_id: str) -> HttpResponse:
    start, limit = pagination(request)
    rows, more = selectors.record_messages(user, kind, parse_id(record_id), start=start, limit=limit)
    items = [serializers.flow_item(serializers.message(m, m.conversation)) for m in rows]
    return ok_flat_page(items, start=start, limit=limit, more=more)


@api_view("GET", "POST")
def deal_list(request: HttpRequest, user: User) -> HttpResponse:
    if request.method == "POST":
        return ok(serializers.deal(services.create_deal(user, request_body(request))), status=201)
    status = choice_param(request, "status", selectors.DEAL_STATUSES, "all_not_deleted")
    start, limit = pagination(request)
    rows, more = selectors.deal_page(user, status, start=start, limit=limit)
    return ok_page([serializers.deal(d) for d in rows], start=start, limit=limit, more=more)


@api_view("GET")
def deal_detail(request: HttpRequest, user: User, deal_id: str) -> HttpResponse:
    return ok(serializers.deal(selectors.one(selectors.deals(user), parse_id(deal_id), "Deal")))


@api_view("GET")
def deal_mail_messages(request: HttpRequest, user: User, deal_id: str) -> HttpResponse:
    return _mail_messages(request, user, "deal", deal_id)


@api_view("GET", "POST")
def person_list(request: HttpRequest, user: User) -> HttpResponse:
    if request.method == "POST":
        return ok(serializers.person(services.create_person(user, request_body(request))), status=201)
    start, limit = pagination(request)
    rows, more = selectors.page(selectors.persons(user), start=start, limit=limit)
    return ok_page([serializers.person(p) for p in rows], start=start, limit=limit, more=more)


@api_view("GET")
def person_detail(request: HttpRequest, user: User, person_id: str) -> HttpResponse:
    return ok(serializers.person(selectors.one(selectors.persons(user), parse_id(person_id), "Person")))


@api_view("GET")
def person_mail_messages(request: HttpRequest, user: User, person_id: str) -> HttpResponse:
    return _mail_messages(request, user, "person", person_id)


@api_view("GET")
def organization_list(request: HttpRequest, user: User) -> HttpResponse:
    start, limit = pagination(request)
    rows, more = selectors.page(selectors.organizations(user), start=start, limit=limit)
    return ok_page([serializers.organization(o) for o in rows], start=start, limit=limit, more=more)


@api_view("GET")
def organization_detail(request: HttpRequest, user: User, organization_id: str) -> HttpResponse:
    org = selectors.one(selectors.organizations(user), parse_id(organization_id), "Organization")
    return ok(serializers.organization(org))


@api_view("GET")
def lead_list(request: HttpRequest, user: User) -> HttpResponse:
    archived = choice_param(request, "archived_status", selectors.LEAD_ARCHIVED_STATUSES, "all")
    start, limit = pagination(request)
    rows, more = selectors.lead_page(user, archived, start=start, limit=limit)
    return ok_flat_page([serializers.lead(ld) for ld in rows], start=start, limit=limit, more=more)


@api_view("GET")
def lead_detail(request: HttpRequest, user: User, lead_id: str) -> HttpResponse:
    return ok(serializers.lead(selectors.one(selectors.leads(user), parse_id(lead_id), "Lead")))
