from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Company
from crm.models import Deal, Lead, Person, Project
from inbox.fields import EncryptedJSONField


class AccountKind(models.TextChoices):
    PERSONAL = "personal", "Personal"
    TEAM = "team", "Team (shared)"


class Provider(models.TextChoices):
    IMAP = "imap", "IMAP"
    GMAIL = "gmail", "Gmail"
    OUTLOOK = "outlook", "Microsoft 365 / Outlook"
    # Demo mailboxes hold seeded mail; their "provider" is a simulated external mailbox
    # (sync/providers/demo.py) that archive and delete reach through the normal outbox.
    DEMO = "demo", "Demo (simulated mailbox)"


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    NEEDS_REAUTH = "needs_reauth", "Needs re-authentication"
    PAUSED = "paused", "Paused"
    ERROR = "error", "Error"
    DISCONNECTED = "disconnected", "Disconnected"


class MailAccount(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="mail_accounts")
    kind = models.CharField(max_length=10, choices=AccountKind.choices, default=AccountKind.PERSONAL)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="personal_mail_accounts",
        help_text="The user a personal account belongs to.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="team_mail_accounts",
        help_text="Users who see a team account's mail.",
    )
    name = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=10, choices=Provider.choices)
    address = models.EmailField()
    credentials = EncryptedJSONField(blank=True, default=dict)
    # Provider-specific, non-secret configuration (IMAP host/port, folder map, ...).
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    status_reason = models.TextField(blank=True)
    # The two switches for a team account (personal accounts use their owner's settings).
    archive_in_provider = models.BooleanField(default=False)
    delete_in_provider = models.BooleanField(default=False)
    sync_past_days = models.PositiveIntegerField(default=90)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_error = models.TextField(blank=True)
    next_sync_at = models.DateTimeField(default=timezone.now)
    # Progress of the initial sync, for the status page's progress bar (0/0 when idle).
    initial_sync_done = models.PositiveIntegerField(default=0)
    initial_sync_total = models.PositiveIntegerField(default=0)
    initial_sync_finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="team") | Q(owner__isnull=False), name="personal_account_has_owner"
            ),
            models.UniqueConstraint(fields=["company", "address"], name="mail_account_address_unique"),
        ]

    def __str__(self) -> str:
        return self.name or self.address

    @property
    def is_team(self) -> bool:
        return self.kind == AccountKind.TEAM

    @property
    def is_connected(self) -> bool:
        return self.provider != Provider.DEMO

    @property
    def syncs_with_provider(self) -> bool:
        """Whether sync and push may touch this account's provider at all."""
        reachable = self.is_connected or self.provider == Provider.DEMO  # demo: the simulated one
        return reachable and self.status != AccountStatus.DISCONNECTED and self.company.has_email_sync


class UserSyncSettings(models.Model):
    """The two switches of Personal settings > Email sync > General settings."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sync_settings"
    )
    archive_in_provider = models.BooleanField(default=False)
    delete_in_provider = models.BooleanField(default=False)

    class Meta:
        verbose_name = "user sync settings"
        verbose_name_plural = "user sync settings"

    def __str__(self) -> str:
        return f"sync settings of {self.user}"


class ConversationState(models.TextChoices):
    INBOX = "inbox", "Inbox"
    ARCHIVED = "archived", "Archived"


class Conversation(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    # No index of its own: every conversation index starts with the account (migration 0018).
    account = models.ForeignKey(
        MailAccount, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    subject = models.CharField(max_length=998, blank=True)
    normalized_subject = models.CharField(max_length=998, blank=True)
    snippet = models.CharField(max_length=300, blank=True)
    state = models.CharField(
        max_length=10, choices=ConversationState.choices, default=ConversationState.INBOX
    )
    first_message_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)
    message_count = models.PositiveIntegerField(default=0)
    has_incoming = models.BooleanField(default=False)
    has_outgoing = models.BooleanField(default=False)
    has_attachments = models.BooleanField(default=False)
    is_read = models.BooleanField(default=False)
    shared = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    deal = models.ForeignKey(
        Deal, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations"
    )
    lead = models.ForeignKey(
        Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations"
    )
    projects = models.ManyToManyField(Project, blank=True, related_name="conversations")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(deal__isnull=True) | Q(lead__isnull=True), name="conversation_deal_or_lead"
            )
        ]
        indexes = [
            models.Index(fields=["account", "state", "-last_message_at", "-id"], name="conv_folder_idx"),
            models.Index(fields=["account", "has_outgoing", "-last_message_at", "-id"], name="conv_sent_idx"),
            models.Index(fields=["account", "normalized_subject"], name="conv_subject_idx"),
            # The Inbox's two navigation counts (all, unread) as index-only scans of the
            # Inbox's own rows: without it PostgreSQL filtered the table for has_incoming
            # and is_read, about two thirds of the database's CPU per Inbox page (issue 23).
            models.Index(
                fields=["account", "is_read"],
                condition=Q(state=ConversationState.INBOX, has_incoming=True),
                name="conv_inbox_read_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"

    @property
    def is_archived(self) -> bool:
        return self.state == ConversationState.ARCHIVED


class Direction(models.TextChoices):
    INCOMING = "in", "Received"
    OUTGOING = "out", "Sent"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    # No index of its own: the composite indexes below start with it (migration 0017).
    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+", db_index=False)
    message_id = models.CharField(max_length=998, blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    from_address = models.CharField(max_length=320, blank=True)
    from_name = models.CharField(max_length=300, blank=True)
    to = models.JSONField(default=list, blank=True)
    cc = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField(default=timezone.now)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.INCOMING)
    parse_problems = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["conversation", "sent_at"], name="msg_conv_time_idx"),
            models.Index(fields=["account", "message_id"], name="msg_account_mid_idx"),
            # Threading looks up replies that arrived before their parent by In-Reply-To.
            models.Index(fields=["account", "in_reply_to"], name="msg_account_irt_idx"),
        ]

    def __str__(self) -> str:
        return self.subject or self.message_id


def attachment_path(instance: Attachment, filename: str) -> str:
    """Where kept bytes go in the storage: by company and row id, never the sender's name."""
    return f"attachments/{instance.account.company_id}/{instance.account_id}/{instance.pk}"


class Attachment(models.Model):
    """One attachment (or inline part) of a message, listed at import and kept on demand.

    The bytes stay at the provider until someone opens the file: the first download fetches
    the part (``part`` is its IMAP body section number, "1.2"; Gmail's partId and Graph's
    attachment list are found from it) and keeps it in Django's default storage (``file``).
    """

    # No index of its own: att_message_pos_idx starts with it, and no query's plan used this one
    # (bench/index_plans.py, docs/bench/index-plans-s28.txt); each one cost every insert.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attachment_rows", db_index=False
    )
    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)
    filename = models.CharField(max_length=1000, blank=True)
    content_type = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(default=0)
    inline = models.BooleanField(default=False)
    content_id = models.CharField(max_length=998, blank=True)
    # IMAP body section ("2", "1.2"); empty when the structure was not known at import.
    part = models.CharField(max_length=100, blank=True)
    transfer_encoding = models.CharField(max_length=40, blank=True)
    # The provider's own handle when the import saw it (Gmail attachmentId, Graph id).
    provider_id = models.CharField(max_length=2000, blank=True)
    file = models.FileField(upload_to=attachment_path, max_length=500, blank=True)
    kept_size = models.BigIntegerField(null=True, blank=True)
    kept_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["message_id", "position"]
        indexes = [models.Index(fields=["message", "position"], name="att_message_pos_idx")]

    def __str__(self) -> str:
        return self.filename

    @property
    def is_kept(self) -> bool:
        return bool(self.file)


class ProviderRef(models.Model):
    """Where one message lives at the provider: the handle a push needs.

    ``key`` is unique per account and provider-shaped: ``imap:<folder>:<uidvalidity>:<uid>``,
    a Gmail message id, a Graph immutable id.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="refs")
    # No index of its own: provider_ref_unique and ref_folder_uid_idx start with it, and every
    # query's plan keeps an index of that shape without it (bench/index_plans.py,
    # docs/bench/index-plans-s28.txt); it cost each message of an initial sync an insert.
    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=500)
    folder = models.CharField(max_length=500, blank=True)
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    uid = models.BigIntegerField(null=True, blank=True)
    thread_id = models.CharField(max_length=200, blank=True)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="provider_ref_unique")]
        indexes = [models.Index(fields=["account", "folder", "uid"], name="ref_folder_uid_idx")]

    def __str__(self) -> str:
        return self.key

    def snapshot(self) -> dict[str, object]:
        """What a provider change needs to find the message after it is gone from our database."""
        return {
            "key": self.key,
            "folder": self.folder,
            "uidvalidity": self.uidvalidity,
            "uid": self.uid,
            "thread_id": self.thread_id,
            "message_id": self.message.message_id,
        }


class Participant(models.Model):
    """An address seen on a conversation; linked to a Person when one has that address."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    address = models.CharField(max_length=320)
    name = models.CharField(max_length=300, blank=True)
    person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="participations"
    )
    is_sender = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "address"], name="participant_unique")]
        indexes = [models.Index(fields=["address"], name="participant_address_idx")]

    def __str__(self) -> str:
        return self.address


class Tombstone(models.Model):
    """A message deleted in the app: a later sync must never import it again."""

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="tombstones")
    provider_key = models.CharField(max_length=500, blank=True)
    message_id = models.CharField(max_length=998, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["account", "provider_key"], name="tomb_key_idx"),
            models.Index(fields=["account", "message_id"], name="tomb_mid_idx"),
        ]

    def __str__(self) -> str:
        return self.message_id or self.provider_key


class AuditAction(models.TextChoices):
    ARCHIVE = "archive", "Archived"
    UNARCHIVE = "unarchive", "Unarchived"
    DELETE = "delete", "Deleted"
    DELETE_MESSAGE = "delete_message", "Deleted an email"
    EXTERNAL_DELETE = "external_delete", "Deleted in the external mailbox"
    LINK = "link", "Linked"
    UNLINK = "unlink", "Unlinked"
    FOLDER_MAP = "folder_map", "Changed the mailbox's folders"


class AuditEvent(models.Model):
    """Who did what to which mail, and (through its changes) what the provider said."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    account = models.ForeignKey(
        MailAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    conversation_ids = models.JSONField(default=list)
    message_count = models.PositiveIntegerField(default=0)
    summary = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.summary


class ChangeKind(models.TextChoices):
    ARCHIVE = "archive", "Archive"
    UNARCHIVE = "unarchive", "Move back to Inbox"
    TRASH = "trash", "Move to Trash"
    # One message the user sent from the app (refs: [{"key": "send:<outgoing id>", …}]).
    SEND = "send", "Send"
    # Read state mirrored to the provider (no switch: it destroys nothing).
    READ = "read", "Mark read"
    UNREAD = "unread", "Mark unread"


class ChangeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ProviderChange(models.Model):
    """The outbox: one user action that must reach one external mailbox.

    ``refs`` is a snapshot, because a delete removes the messages from our database in
    the same transaction that writes this row.
    """

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=10, choices=ChangeKind.choices)
    refs = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=ChangeStatus.choices, default=ChangeStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    # Provider keys (refs[i]["key"]) already finished by earlier attempts: a retry pushes
    # only the rest, so a change of 1,000 messages that failed at 600 does not redo 600.
    progress = models.JSONField(default=list, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    audit = models.ForeignKey(
        AuditEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="change_due_idx"),
            models.Index(fields=["account", "status", "id"], name="change_account_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({len(self.refs)} messages) — {self.status}"


class SendState(models.TextChoices):
    SCHEDULED = "scheduled", "Sending (Undo possible)"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Not sent"
    CANCELLED = "cancelled", "Cancelled"


class SendStage(models.TextChoices):
    """How far a send got, written by the worker as it goes (each step committed at once):
    what a retry after a crash may and may not do again."""

    NONE = "", "Not started"
    # The SMTP DATA command was sent: from here until "accepted" nobody knows whether the
    # server took the message, so no automatic retry sends it again.
    DATA_SENT = "data_sent", "Handed to the server"
    ACCEPTED = "accepted", "Accepted by the server"
    FILED = "filed", "Filed in Sent"


class OutgoingMessage(models.Model):
    """A message the user sent from the app: its MIME as it will leave, its envelope and
    how far the send got. The app-side ``message`` is shown in the conversation at once."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="outgoing")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="outgoing")
    state = models.CharField(max_length=10, choices=SendState.choices, default=SendState.SCHEDULED)
    stage = models.CharField(max_length=10, choices=SendStage.choices, default=SendStage.NONE, blank=True)
    error = models.TextField(blank=True)
    raw = models.BinaryField()
    # Every envelope recipient (To, Cc and Bcc); Bcc is not in ``raw``.
    recipients = models.JSONField(default=list)
    bcc = models.JSONField(default=list, blank=True)
    # What the editor held (mode, reply_to, to/cc/bcc, subject, html): Undo and Edit return it.
    compose = models.JSONField(default=dict, blank=True)
    # Provider thread hint (Gmail threadId, Graph conversation) and what the provider said.
    thread_id = models.CharField(max_length=200, blank=True)
    result = models.JSONField(default=dict, blank=True)
    send_after = models.DateTimeField(default=timezone.now)
    change = models.ForeignKey(
        ProviderChange, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.message} — {self.state}"


class Draft(models.Model):
    """A message being written: autosaved in the app, never sent anywhere until Send."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="drafts")
    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="drafts")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="drafts"
    )
    reply_to = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    mode = models.CharField(max_length=10, default="new")  # new | reply | reply_all | forward
    to = models.JSONField(default=list, blank=True)
    cc = models.JSONField(default=list, blank=True)
    bcc = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    html = models.TextField(blank=True)
    # Written from a deal, lead or project page: the record the new conversation is linked
    # to when it is sent (kept through autosave and Undo; permission-checked at Send).
    link_kind = models.CharField(max_length=10, blank=True)
    link_id = models.PositiveIntegerField(null=True, blank=True)
    # Files attached in the editor, kept in the default storage until Send or Discard:
    # [{"name": storage name, "filename", "content_type", "size"}] (``inbox.signals`` deletes
    # them with the draft).
    files = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["author", "-updated_at"], name="draft_author_idx")]

    def __str__(self) -> str:
        return self.subject or "(no subject)"


class ComposeSettings(models.Model):
    """Per user: signature and the Undo-send delay."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="compose_settings"
    )
    signature_html = models.TextField(blank=True)
    undo_seconds = models.PositiveSmallIntegerField(default=10)

    def __str__(self) -> str:
        return f"compose settings of {self.user}"
