"""Linking conversations to deals, leads and projects; persons through participants."""

from __future__ import annotations

from typing import TypeVar

from django.db import transaction

from accounts.models import User
from crm.models import Deal, Lead, Person, PersonEmail, Project
from inbox.errors import InvalidRequest, NotFound
from inbox.models import AuditAction, AuditEvent, Conversation, Participant
from inbox.selectors import actionable_conversations

CrmObject = TypeVar("CrmObject", Deal, Lead, Project)


def _locked(actor: User, conversation_id: int) -> Conversation:
    conversation = (
        actionable_conversations(actor).select_for_update(of=("self",)).filter(pk=conversation_id).first()
    )
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def _audit(actor: User, conversation: Conversation, action: AuditAction, summary: str) -> None:
    AuditEvent.objects.create(
        company_id=actor.company_pk,
        actor=actor,
        account_id=conversation.account_id,
        action=action,
        conversation_ids=[conversation.pk],
        summary=summary,
    )


def _company_object(model: type[CrmObject], actor: User, object_id: int) -> CrmObject:
    obj = model.objects.filter(company_id=actor.company_pk, pk=object_id).first()
    if obj is None:
        raise NotFound(f"No such {model._meta.verbose_name}.")
    return obj


@transaction.atomic
def link_deal(actor: User, conversation_id: int, deal_id: int) -> Conversation:
    """A conversation has at most one deal or lead: linking a deal replaces a lead."""
    conversation = _locked(actor, conversation_id)
    deal = _company_object(Deal, actor, deal_id)
    conversation.deal_id, conversation.lead_id = deal.pk, None
    conversation.save(update_fields=["deal", "lead", "updated_at"])
    _audit(actor, conversation, AuditAction.LINK, f"Linked to deal {deal.title}")
    return conversation


@transaction.atomic
def link_lead(actor: User, conversation_id: int, lead_id: int) -> Conversation:
    conversation = _locked(actor, conversation_id)
    lead = _company_object(Lead, actor, lead_id)
    conversation.lead_id, conversation.deal_id = lead.pk, None
    conversation.save(update_fields=["deal", "lead", "updated_at"])
    _audit(actor, conversation, AuditAction.LINK, f"Linked to lead {lead.title}")
    return conversation


@transaction.atomic
def unlink_deal_or_lead(actor: User, conversation_id: int) -> Conversation:
    conversation = _locked(actor, conversation_id)
    if conversation.deal_id is None and conversation.lead_id is None:
        return conversation
    conversation.deal_id = conversation.lead_id = None
    conversation.save(update_fields=["deal", "lead", "updated_at"])
    _audit(actor, conversation, AuditAction.UNLINK, "Unlinked from its deal or lead")
    return conversation


@transaction.atomic
def link_project(actor: User, conversation_id: int, project_id: int) -> Conversation:
    conversation = _locked(actor, conversation_id)
    project = _company_object(Project, actor, project_id)
    conversation.projects.add(project)
    _audit(actor, conversation, AuditAction.LINK, f"Linked to project {project.title}")
    return conversation


@transaction.atomic
def unlink_project(actor: User, conversation_id: int, project_id: int) -> Conversation:
    conversation = _locked(actor, conversation_id)
    project = _company_object(Project, actor, project_id)
    conversation.projects.remove(project)
    _audit(actor, conversation, AuditAction.UNLINK, f"Unlinked from project {project.title}")
    return conversation


def set_shared(actor: User, conversation_id: int, shared: bool) -> Conversation:
    with transaction.atomic():
        conversation = _locked(actor, conversation_id)
        conversation.shared = shared
        conversation.save(update_fields=["shared", "updated_at"])
    return conversation


@transaction.atomic
def relink_person(person: Person) -> int:
    """Make a person's History match their addresses as they are now.

    Conversations already carrying one of the person's addresses are linked to them; those
    linked through an address the person no longer has are unlinked. Every writer of a
    person's addresses calls it after saving (the API, the admin); new mail links itself
    on arrival (ingest). Returns how many participants changed."""
    addresses = [
        e.lower() for e in PersonEmail.objects.filter(person_id=person.pk).values_list("email", flat=True)
    ]
    if any(not address for address in addresses):
        raise InvalidRequest("An empty address links nothing.")
    in_company = Participant.objects.filter(conversation__company_id=person.company_id)
    unlinked = in_company.filter(person_id=person.pk).exclude(address__in=addresses).update(person=None)
    linked = in_company.filter(address__in=addresses, person__isnull=True).update(person_id=person.pk)
    return unlinked + linked
