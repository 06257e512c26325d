"""Company-scoped reads of CRM records: another company's record is a 404."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Case, IntegerField, Model, Q, Value, When
from django.http import Http404

from accounts.models import User
from crm.models import Deal, DealStatus, Lead, Organization, Person, PersonEmail, Project

KINDS: dict[str, type[Model]] = {
    "deal": Deal,
    "lead": Lead,
    "project": Project,
    "person": Person,
    "organization": Organization,
}
# What a list row or a detail header shows next to the record itself.
RELATED: dict[str, tuple[str, ...]] = {
    "deal": ("person", "organization", "owner"),
    "lead": ("person", "organization", "owner"),
    "person": ("organization", "owner"),
    "organization": ("owner",),
    "project": ("owner",),
}
_TITLE_FIELD = {
    "deal": "title",
    "lead": "title",
    "project": "title",
    "person": "name",
    "organization": "name",
}
LIST_LIMIT = 200


def company_records(user: User, kind: str):  # type: ignore[no-untyped-def]
    model = KINDS.get(kind)
    if model is None or user.company_id is None:
        raise Http404("No such record type.")
    return model._default_manager.filter(company_id=user.company_id)


def get_record(user: User, kind: str, object_id: int) -> Model:
    record = company_records(user, kind).select_related(*RELATED.get(kind, ())).filter(pk=object_id).first()
    if record is None:
        raise Http404("No such record.")
    return record


def record_list(user: User, kind: str, query: str = "") -> list[Model]:
    """The newest records of a kind (one query, related rows joined), optionally filtered."""
    records = company_records(user, kind).select_related(*RELATED[kind])
    if query:
        records = records.filter(**{f"{_TITLE_FIELD[kind]}__icontains": query})
    return list(records.order_by("-id")[:LIST_LIMIT])


@dataclass
class RecordContext:
    """The rows a detail page shows under the record's own fields (a fixed number of queries)."""

    persons: list[Person] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    leads: list[Lead] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)


def record_context(user: User, kind: str, record: Model) -> RecordContext:
    context = RecordContext()
    company = user.company_id
    if company is None:
        return context
    if kind == "organization":
        context.persons = list(
            Person.objects.filter(company_id=company, organization_id=record.pk).order_by("name")[:50]
        )
        context.deals = list(
            Deal.objects.filter(company_id=company, organization_id=record.pk)
            .select_related("person")
            .order_by("-id")[:50]
        )
    elif kind == "person":
        context.emails = list(
            PersonEmail.objects.filter(company_id=company, person_id=record.pk)
            .order_by("-primary", "id")
            .values_list("email", flat=True)
        )
        context.deals = list(
            Deal.objects.filter(company_id=company, person_id=record.pk)
            .select_related("organization")
            .order_by("-id")[:50]
        )
        context.leads = list(
            Lead.objects.filter(company_id=company, person_id=record.pk).order_by("-id")[:50]
        )
    return context


@dataclass
class Linkables:
    """Deals, leads and projects a conversation could be linked to (the picker's options)."""

    deals: list[Deal]
    leads: list[Lead]
    projects: list[Project]

    def __bool__(self) -> bool:
        return bool(self.deals or self.leads or self.projects)


def linkable_records(
    user: User,
    query: str = "",
    *,
    person_ids: list[int] | None = None,
    organization_ids: list[int] | None = None,
    limit: int = 6,
) -> Linkables:
    """Search deals, leads and projects by title (and organization / person name).

    With no query, suggest the open deals and leads of the conversation's people and their
    organizations, then the newest projects: what a rep most likely links to. Three
    queries whatever the result size.
    """
    if user.company_id is None:
        return Linkables([], [], [])
    deals = Deal.objects.filter(company_id=user.company_id).select_related("organization")
    leads = Lead.objects.filter(company_id=user.company_id, is_archived=False).select_related("organization")
    projects = Project.objects.filter(company_id=user.company_id)
    query = query.strip()
    if query:
        by_text = (
            Q(title__icontains=query)
            | Q(organization__name__icontains=query)
            | Q(person__name__icontains=query)
        )
        deals = deals.filter(by_text).order_by(_open_first(), "-id")
        leads = leads.filter(by_text).order_by("-id")
        projects = projects.filter(title__icontains=query).order_by("-id")
    else:
        related = Q(person_id__in=person_ids or []) | Q(organization_id__in=organization_ids or [])
        deals = deals.filter(related, status=DealStatus.OPEN).order_by("-id")
        leads = leads.filter(related).order_by("-id")
        projects = projects.exclude(status__in=["done", "closed"]).order_by("-id")
    return Linkables(list(deals[:limit]), list(leads[:limit]), list(projects[:limit]))


def _open_first() -> Case:
    """Open deals first, then won ones; lost deals last (rarely what a rep links mail to)."""
    return Case(
        When(status=DealStatus.OPEN, then=Value(0)),
        When(status=DealStatus.WON, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
