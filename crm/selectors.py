"""Company-scoped reads of CRM records: another company's record is a 404."""

from __future__ import annotations

from django.db.models import Model
from django.http import Http404

from accounts.models import User
from crm.models import Deal, Lead, Organization, Person, Project

KINDS: dict[str, type[Model]] = {
    "deal": Deal,
    "lead": Lead,
    "project": Project,
    "person": Person,
    "organization": Organization,
}


def company_records(user: User, kind: str):  # type: ignore[no-untyped-def]
    model = KINDS.get(kind)
    if model is None or user.company_id is None:
        raise Http404("No such record type.")
    return model._default_manager.filter(company_id=user.company_id)


def get_record(user: User, kind: str, object_id: int) -> Model:
    record = company_records(user, kind).filter(pk=object_id).first()
    if record is None:
        raise Http404("No such record.")
    return record
