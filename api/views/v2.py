"""/api/v2/ deals, persons, organizations — Pipedrive's API v2 shapes and cursor pages.

Lists take limit, cursor, sort_by, sort_direction, ids, owner_id, updated_since and
updated_until (plus each object's own filters) and answer ``additional_data.next_cursor``
(null on the last page). Writes take JSON; updates are PATCH.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.models import User
from api import cursor, selectors, serializers, services
from api.errors import ApiError
from api.http import api_view, json_body, ok, parse_id

# Filters Pipedrive has and this server cannot apply (no saved filters, no pipelines): a
# 400, not silently the unfiltered list. Parameters that only ask for extra fields
# (include_fields, custom_fields, include_labels, …) are accepted and change nothing.
_UNSUPPORTED_FILTERS = ("filter_id", "pipeline_id", "stage_id")
DEAL_STATUSES = ("open", "won", "lost", "deleted")


def _list(
    request: HttpRequest, qs: QuerySet[Any], serialize: Callable[[Any], dict[str, Any]]
) -> HttpResponse:
    query = cursor.list_query(request)
    rows, next_cursor = cursor.page(qs.filter(cursor.common_filters(request)), query)
    return ok([serialize(r) for r in rows], additional_data={"next_cursor": next_cursor})


def _deal_filters(request: HttpRequest) -> Q:
    cursor.refuse_params(request, *_UNSUPPORTED_FILTERS)
    q = Q()
    person = cursor.id_param(request, "person_id")
    if person is not None:
        q &= Q(person_id=person)
    org = cursor.id_param(request, "org_id")
    if org is not None:
        q &= Q(organization_id=org)
    raw_status = request.GET.getlist("status")
    if len(raw_status) > 1:
        raise ApiError(400, "status was given more than once.")
    if raw_status:
        statuses = raw_status[0].split(",")
        if not all(s in DEAL_STATUSES for s in statuses):
            raise ApiError(
                400, f"status must be one or more of {', '.join(DEAL_STATUSES)}, separated by commas."
            )
        # No deal is ever in "deleted" here: a deleted deal is gone.
        q &= Q(status__in=[s for s in statuses if s != "deleted"])
    return q


@api_view("GET", "POST")
def deal_list(request: HttpRequest, user: User) -> HttpResponse:
    if request.method == "POST":
        return ok(serializers.deal_v2(services.create_deal_v2(user, json_body(request))), status=201)
    return _list(request, selectors.deals_v2(user).filter(_deal_filters(request)), serializers.deal_v2)


@api_view("GET", "PATCH", "DELETE")
def deal_detail(request: HttpRequest, user: User, deal_id: str) -> HttpResponse:
    pk = parse_id(deal_id)
    if request.method == "PATCH":
        return ok(serializers.deal_v2(services.update_deal_v2(user, pk, json_body(request))))
    if request.method == "DELETE":
        return ok({"id": services.delete_record_v2(user, "deal", pk)})
    return ok(serializers.deal_v2(selectors.one(selectors.deals_v2(user), pk, "Deal")))


@api_view("GET", "POST")
def person_list(request: HttpRequest, user: User) -> HttpResponse:
    if request.method == "POST":
        return ok(serializers.person_v2(services.create_person_v2(user, json_body(request))), status=201)
    cursor.refuse_params(request, "filter_id")
    q = Q()
    org = cursor.id_param(request, "org_id")
    if org is not None:
        q &= Q(organization_id=org)
    deal = cursor.id_param(request, "deal_id")
    if deal is not None:
        q &= Q(deals__id=deal)  # a deal has one person: no duplicates
    return _list(request, selectors.persons_v2(user).filter(q), serializers.person_v2)


@api_view("GET", "PATCH", "DELETE")
def person_detail(request: HttpRequest, user: User, person_id: str) -> HttpResponse:
    pk = parse_id(person_id)
    if request.method == "PATCH":
        return ok(serializers.person_v2(services.update_person_v2(user, pk, json_body(request))))
    if request.method == "DELETE":
        return ok({"id": services.delete_record_v2(user, "person", pk)})
    return ok(serializers.person_v2(selectors.one(selectors.persons_v2(user), pk, "Person")))


@api_view("GET", "POST")
def organization_list(request: HttpRequest, user: User) -> HttpResponse:
    if request.method == "POST":
        org = services.create_organization_v2(user, json_body(request))
        return ok(serializers.organization_v2(org), status=201)
    cursor.refuse_params(request, "filter_id")
    return _list(request, selectors.organizations_v2(user), serializers.organization_v2)


@api_view("GET", "PATCH", "DELETE")
def organization_detail(request: HttpRequest, user: User, organization_id: str) -> HttpResponse:
    pk = parse_id(organization_id)
    if request.method == "PATCH":
        org = services.update_organization_v2(user, pk, json_body(request))
        return ok(serializers.organization_v2(org))
    if request.method == "DELETE":
        return ok({"id": services.delete_record_v2(user, "organization", pk)})
    return ok(
        serializers.organization_v2(selectors.one(selectors.organizations_v2(user), pk, "Organization"))
    )
