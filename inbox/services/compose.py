"""Writing mail in the app: drafts, Send (through the outbox, after the user's Undo delay),
Undo, Retry and Edit of a message that was not sent, and the per-user compose settings.

Send writes, in one transaction: the message in its conversation (state "sending" at once),
its ``OutgoingMessage`` (MIME, envelope) and one ``send`` change in the outbox that is not
due before the Undo delay has passed. Nothing reaches a provider before that: the worker
only claims due changes, and it takes a scheduled message for sending with a conditional
UPDATE that Undo's own conditional UPDATE excludes — exactly one of the two wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from inbox.errors import InvalidRequest, NotAllowed, NotFound
from inbox.models import (
    ChangeKind,
    ChangeStatus,
    ComposeSettings,
    Conversation,
    Direction,
    Draft,
    MailAccount,
    Message,
    OutgoingMessage,
    ProviderChange,
    SendStage,
    SendState,
)
from inbox.outgoing import (
    MAX_RECIPIENTS,
    Recipient,
    build_message,
    check_subject,
    parse_recipients,
    sanitize_compose_html,
)
from inbox.selectors import accessible_accounts, actionable_conversations
from inbox.services.compose_files import (
    Upload,
    collect_files,
    delete_stored,
    files_for_draft,
    keep_sent_files,
    listed,
    stage_uploads,
)
from inbox.services.ingest import link_participants, normalize_subject, snippet_of
from inbox.services.links import link_deal, link_lead, link_project
from inbox.services.nudge import nudge_push_after_commit
from inbox.services.send_limits import check_message_size
from inbox.types import Address, ParsedMessage

MAX_UNDO_SECONDS = 30
# Persons and organizations link through the participants; these are linked explicitly.
LINKERS = {"deal": link_deal, "lead": link_lead, "project": link_project}
MODES = ("new", "reply", "reply_all", "forward")


@dataclass(frozen=True)
class ComposeInput:
    """What the editor sends: the recipient fields as typed, the subject, the HTML."""

    account_id: int | None = None
    conversation_id: int | None = None
    reply_to_id: int | None = None
    mode: str = "new"
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    html: str = ""
    draft_id: int | None = None
    # Composed from a deal, lead or project page: the new conversation is linked to it.
    link_kind: str = ""
    link_id: int | None = None
    # Files from the editor; on Forward, whether the original's attachments go along.
    uploads: tuple[Upload, ...] = ()
    forward_files: bool = True
    # Positions of the draft's stored files the user removed in the editor.
    remove_files: tuple[int, ...] = ()


def compose_settings_of(user: User) -> ComposeSettings:
    return ComposeSettings.objects.filter(user_id=user.pk).first() or ComposeSettings(user=user)


def set_compose_settings(actor: User, *, signature_html: str, undo_seconds: int) -> ComposeSettings:
    if not 0 <= undo_seconds <= MAX_UNDO_SECONDS:
        raise InvalidRequest(f"The Undo delay is 0 to {MAX_UNDO_SECONDS} seconds.")
    row, _ = ComposeSettings.objects.update_or_create(
        user=actor,
        defaults={"signature_html": sanitize_compose_html(signature_html), "undo_seconds": undo_seconds},
    )
    return row


def sendable_accounts(actor: User):  # type: ignore[no-untyped-def]
    """Mailboxes the user may send from: their personal ones and team ones they are in."""
    return accessible_accounts(actor).exclude(status="disconnected")


def _account(actor: User, account_id: int | None) -> MailAccount:
    account = sendable_accounts(actor).select_related("company").filter(pk=account_id).first()
    if account is None:
        raise NotFound("No such mailbox.")
    return account


def _context(actor: User, data: ComposeInput) -> tuple[MailAccount, Conversation | None, Message | None]:
    """The mailbox, conversation and answered message, each permission-checked. A reply
    leaves from the conversation's own mailbox (a team mailbox as the team address)."""
    if data.mode not in MODES:
        raise InvalidRequest("Unknown kind of message.")
    conversation = reply_to = None
    if data.conversation_id is not None:
        conversation = (
            actionable_conversations(actor)
            .select_related("account__company")
            .filter(pk=data.conversation_id)
            .first()
        )
        if conversation is None:
            raise NotFound("No such conversation.")
        account = conversation.account
        if data.reply_to_id is not None:
            reply_to = Message.objects.filter(pk=data.reply_to_id, conversation=conversation).first()
            if reply_to is None:
                raise NotFound("No such message.")
    else:
        account = _account(actor, data.account_id)
    return account, conversation, reply_to


def _recipient_list(value: str) -> list[str]:
    return [value] if value.strip() else []


def _link_fields(kind: object, record_id: object) -> dict[str, object]:
    """The record a new conversation will be linked to, as a draft keeps it (checked at Send)."""
    if kind in LINKERS and isinstance(record_id, int):
        return {"link_kind": kind, "link_id": record_id}
    return {"link_kind": "", "link_id": None}


def _record_link(conversation: Conversation, compose: dict[str, object]) -> dict[str, object]:
    """What a message taken back to the editor was (to be) linked to: the record it was
    written from, else the deal, lead or project its conversation — about to go, as it held
    only this message — was linked to meanwhile."""
    linked = _link_fields(compose.get("link_kind"), compose.get("link_id"))
    if linked["link_kind"]:
        return linked
    if conversation.deal_id is not None:
        return _link_fields("deal", conversation.deal_id)
    if conversation.lead_id is not None:
        return _link_fields("lead", conversation.lead_id)
    project_id = conversation.projects.values_list("pk", flat=True).first()
    return _link_fields("project", project_id)


# --- drafts ---------------------------------------------------------------------------------
def save_draft(actor: User, data: ComposeInput) -> Draft:
    """Autosave: what the editor holds, as typed (checked only at Send). Never leaves the app."""
    account, conversation, reply_to = _context(actor, data)
    fields = {
        "account": account,
        "conversation": conversation,
        "reply_to": reply_to,
        "mode": data.mode,
        "to": _recipient_list(data.to),
        "cc": _recipient_list(data.cc),
        "bcc": _recipient_list(data.bcc),
        "subject": (data.subject or "").replace("\r", " ").replace("\n", " ")[:998],
        "html": sanitize_compose_html(data.html),
        **_link_fields(data.link_kind, data.link_id),
        "updated_at": timezone.now(),
    }
    with transaction.atomic():
        draft = None
        if data.draft_id is not None:
            draft = Draft.objects.select_for_update().filter(pk=data.draft_id, author=actor).first()
            if draft is None:
                raise NotFound("No such draft.")
        held = list(draft.files) if draft is not None else []
        removed = [entry for i, entry in enumerate(held) if i in data.remove_files]
        kept = [entry for i, entry in enumerate(held) if i not in data.remove_files]
        fields["files"] = stage_uploads(actor.company_pk, kept, data.uploads) if data.uploads else kept
        delete_stored(removed)
        if draft is None:
            return Draft.objects.create(company_id=actor.company_pk, author=actor, **fields)
        for name, value in fields.items():
            setattr(draft, name, value)
        draft.save()
        return draft


def get_draft(actor: User, draft_id: int) -> Draft:
    draft = (
        Draft.objects.filter(pk=draft_id, author=actor, account__in=sendable_accounts(actor))
        .select_related("account", "conversation", "reply_to")
        .first()
    )
    if draft is None:
        raise NotFound("No such draft.")
    return draft


def delete_draft(actor: User, draft_id: int) -> None:
    deleted, _ = Draft.objects.filter(pk=draft_id, author=actor).delete()
    if not deleted:
        raise NotFound("No such draft.")


# --- send ---------------------------------------------------------------------------------
def _threading(reply_to: Message | None, mode: str) -> tuple[str, list[str]]:
    if reply_to is None or mode == "forward" or not reply_to.message_id:
        return "", []
    references = [r for r in (reply_to.references or []) if r][-20:]
    if reply_to.in_reply_to and reply_to.in_reply_to not in references:
        references.append(reply_to.in_reply_to)
    references.append(reply_to.message_id)
    return reply_to.message_id, list(dict.fromkeys(references))


def _sender(actor: User, account: MailAccount) -> Recipient:
    # A team mailbox sends as the team's address under the team's name.
    name = account.name if account.is_team and account.name != account.address else actor.get_full_name()
    return Recipient(account.address, (name or "").strip())


def send_message(actor: User, data: ComposeInput) -> OutgoingMessage:
    """Check, build and queue one message; the Undo delay runs from now."""
    account, conversation, reply_to = _context(actor, data)
    to = parse_recipients(data.to, field="To")
    cc = parse_recipients(data.cc, field="Cc")
    bcc = parse_recipients(data.bcc, field="Bcc")
    everyone = list({r.email.lower(): r for r in [*to, *cc, *bcc]}.values())
    if not everyone:
        raise InvalidRequest("Add at least one recipient.")
    if len(everyone) > MAX_RECIPIENTS:
        raise InvalidRequest(
            f"{len(everyone):,} recipients is too many for one message: at most {MAX_RECIPIENTS}."
        )
    subject = check_subject(data.subject)
    if not account.syncs_with_provider:
        raise NotAllowed("This mailbox cannot send: it is not connected (or the plan has no email sync).")
    in_reply_to, references = _threading(reply_to, data.mode)
    forward_from = reply_to if data.mode == "forward" and data.forward_files else None
    stored: list[dict[str, object]] = []
    if data.draft_id is not None:
        draft = Draft.objects.filter(pk=data.draft_id, author=actor).first()
        held = list(draft.files) if draft is not None else []
        stored = [entry for i, entry in enumerate(held) if i not in data.remove_files]
    files = collect_files(data.uploads, forward_from=forward_from, stored=stored)
    forwarded = forward_from.attachment_rows.count() if forward_from is not None else 0
    built = build_message(
        sender=_sender(actor, account),
        to=to,
        cc=cc,
        subject=subject,
        html=data.html,
        in_reply_to=in_reply_to,
        references=references,
        files=files,
    )
    check_message_size(account, len(built.raw))
    delay = compose_settings_of(actor).undo_seconds
    now = timezone.now()
    send_after = now + timedelta(seconds=delay)
    with transaction.atomic():
        if conversation is None:
            conversation = Conversation.objects.create(
                company_id=account.company_id,
                account=account,
                subject=subject,
                normalized_subject=normalize_subject(subject),
                first_message_at=now,
                last_message_at=now,
                is_read=True,
            )
        else:
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        sender = _sender(actor, account)
        message = Message.objects.create(
            conversation=conversation,
            account=account,
            message_id=built.message_id,
            in_reply_to=in_reply_to,
            references=references,
            subject=subject,
            from_address=sender.email,
            from_name=sender.name,
            to=[r.as_json() for r in to],
            cc=[r.as_json() for r in cc],
            sent_at=now,
            text=built.text,
            html=built.html,
            direction=Direction.OUTGOING,
            attachments=listed(files),
        )
        keep_sent_files(account, message, files)
        link_participants(
            conversation,
            ParsedMessage(
                message_id=built.message_id,
                subject=subject,
                sender=Address(sender.email, sender.name),
                to=[Address(r.email, r.name) for r in to],
                cc=[Address(r.email, r.name) for r in cc],
                date=now,
            ),
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            message_count=F("message_count") + 1,
            last_message_at=now,
            snippet=snippet_of(built.text),
            has_outgoing=True,
            updated_at=now,
            **({"has_attachments": True} if files else {}),
        )
        thread_id = ""
        if reply_to is not None:
            thread_id = next((r.thread_id for r in reply_to.refs.all() if r.thread_id), "")
        outgoing = OutgoingMessage.objects.create(
            company_id=account.company_id,
            account=account,
            author=actor,
            message=message,
            raw=built.raw,
            recipients=[r.email for r in everyone],
            bcc=[r.email for r in bcc],
            compose={
                "mode": data.mode,
                "conversation_id": data.conversation_id,
                "reply_to_id": data.reply_to_id,
                "account_id": account.pk,
                "to": data.to,
                "cc": data.cc,
                "bcc": data.bcc,
                "subject": data.subject,
                "html": data.html,
                "link_kind": data.link_kind,
                "link_id": data.link_id,
                # The first files are the original's (a forward takes them again after Undo).
                "forwarded_files": forwarded,
            },
            thread_id=thread_id,
            send_after=send_after,
        )
        change = ProviderChange.objects.create(
            company_id=account.company_id,
            account=account,
            kind=ChangeKind.SEND,
            refs=[{"key": f"send:{outgoing.pk}", "outgoing_id": outgoing.pk, "message_id": built.message_id}],
            actor=actor,
            next_attempt_at=send_after,
        )
        outgoing.change = change
        outgoing.save(update_fields=["change"])
        if data.draft_id is not None:
            Draft.objects.filter(pk=data.draft_id, author=actor).delete()
        if data.link_id is not None and data.link_kind in LINKERS:
            LINKERS[data.link_kind](actor, conversation.pk, data.link_id)
        nudge_push_after_commit(account.pk, countdown=delay + 0.5 if delay else None)
    return outgoing


def _own_outgoing(actor: User, outgoing_id: int) -> OutgoingMessage:
    outgoing = (
        OutgoingMessage.objects.select_for_update(of=("self",))
        .filter(pk=outgoing_id, account__in=sendable_accounts(actor))
        .select_related("message", "change")
        .first()
    )
    if outgoing is None:
        raise NotFound("No such message.")
    return outgoing


def _back_to_draft(actor: User, outgoing: OutgoingMessage) -> Draft:
    """Take the message out of its conversation and give the editor back what it held."""
    compose = outgoing.compose or {}
    message = outgoing.message
    conversation_id = message.conversation_id
    if outgoing.change_id is not None:
        ProviderChange.objects.filter(pk=outgoing.change_id).delete()
    files = files_for_draft(message, skip=int(compose.get("forwarded_files") or 0))
    message.delete()  # the outgoing row goes with it
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    left = Message.objects.filter(conversation_id=conversation_id).order_by("-sent_at").first()
    reply_conversation = compose.get("conversation_id")
    link = _link_fields(compose.get("link_kind"), compose.get("link_id"))
    if left is None:
        # The conversation held only this message: it goes, and the record it was linked
        # to (a deal, lead or project) stays with the draft, for the next Send.
        link = _record_link(conversation, compose)
        conversation.delete()
        reply_conversation = None
    else:
        Conversation.objects.filter(pk=conversation_id).update(
            message_count=F("message_count") - 1,
            last_message_at=left.sent_at,
            snippet=snippet_of(left.text),
            has_outgoing=Message.objects.filter(
                conversation_id=conversation_id, direction=Direction.OUTGOING
            ).exists(),
        )
    reply_to = compose.get("reply_to_id")
    return Draft.objects.create(
        company_id=actor.company_pk,
        author=actor,
        account_id=outgoing.account_id,
        conversation_id=reply_conversation,
        reply_to_id=reply_to
        if reply_conversation and reply_to is not None and Message.objects.filter(pk=reply_to).exists()
        else None,
        mode=str(compose.get("mode") or "new"),
        to=_recipient_list(str(compose.get("to") or "")),
        cc=_recipient_list(str(compose.get("cc") or "")),
        bcc=_recipient_list(str(compose.get("bcc") or "")),
        subject=str(compose.get("subject") or ""),
        html=sanitize_compose_html(str(compose.get("html") or "")),
        files=files,
        **link,
    )


def undo_send(actor: User, outgoing_id: int) -> Draft:
    """Within the Undo delay: nothing has left; the message goes back to the editor."""
    with transaction.atomic():
        outgoing = _own_outgoing(actor, outgoing_id)
        # The same conditional UPDATE the worker races with: only one of us takes it.
        taken = OutgoingMessage.objects.filter(pk=outgoing.pk, state=SendState.SCHEDULED).update(
            state=SendState.CANCELLED
        )
        if not taken:
            raise NotAllowed("Too late to undo: the message is already on its way.")
        return _back_to_draft(actor, outgoing)


def edit_unsent(actor: User, outgoing_id: int) -> Draft:
    """ "Edit" on a message that was not sent: back to the editor, nothing left."""
    with transaction.atomic():
        outgoing = _own_outgoing(actor, outgoing_id)
        if outgoing.state != SendState.FAILED:
            raise NotAllowed("Only a message that was not sent can be edited.")
        return _back_to_draft(actor, outgoing)


def retry_send(actor: User, outgoing_id: int) -> OutgoingMessage:
    """ "Retry" on a message that was not sent. When the last attempt broke off while the
    server was receiving it (it may have arrived), the user's Retry is the explicit
    decision to send it again."""
    with transaction.atomic():
        outgoing = _own_outgoing(actor, outgoing_id)
        if outgoing.state != SendState.FAILED:
            raise NotAllowed("Only a message that was not sent can be retried.")
        if outgoing.stage == SendStage.DATA_SENT:
            outgoing.stage = SendStage.NONE
        outgoing.state = SendState.SENDING
        outgoing.error = ""
        outgoing.save(update_fields=["state", "stage", "error"])
        now = timezone.now()
        change = outgoing.change
        if change is None:
            change = ProviderChange.objects.create(
                company_id=outgoing.company_id,
                account_id=outgoing.account_id,
                kind=ChangeKind.SEND,
                refs=[
                    {
                        "key": f"send:{outgoing.pk}",
                        "outgoing_id": outgoing.pk,
                        "message_id": outgoing.message.message_id,
                    }
                ],
                actor=actor,
            )
            outgoing.change = change
            outgoing.save(update_fields=["change"])
        else:
            ProviderChange.objects.filter(pk=change.pk).update(
                status=ChangeStatus.PENDING, attempts=0, next_attempt_at=now, last_error="", updated_at=now
            )
        nudge_push_after_commit(outgoing.account_id)
    return outgoing
