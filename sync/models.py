from __future__ import annotations

from django.db import models
from django.utils import timezone

from inbox.models import MailAccount


class FolderState(models.Model):
    """Where the last pull of one folder (or whole mailbox) stopped.

    IMAP: uidvalidity / uidnext / highestmodseq per folder. Gmail: the account's
    historyId in ``cursor`` (folder ""). Graph: the folder's deltaLink in ``cursor``.
    """

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="folder_states")
    folder = models.CharField(max_length=500, blank=True)
    role = models.CharField(max_length=20, blank=True, help_text="inbox, sent, archive, trash or empty")
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    uidnext = models.BigIntegerField(null=True, blank=True)
    highestmodseq = models.BigIntegerField(null=True, blank=True)
    cursor = models.TextField(blank=True)
    extra = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "folder"], name="folder_state_unique")]

    def __str__(self) -> str:
        return f"{self.account} {self.folder or '(mailbox)'}"


class FaultState(models.TextChoices):
    RETRYING = "retrying", "Retrying"
    QUARANTINED = "quarantined", "Quarantined"


class QuarantinedMessage(models.Model):
    """A message that could not be fetched or stored, kept with the reason so nothing is lost
    silently (see sync/faults.py).

    ``retrying``: the provider refused to return it (or left it out of an answer); the pull
    asks again after ``next_retry_at``. ``quarantined``: it could not be parsed or stored, or
    the provider kept refusing it ``FETCH_RETRY_MAX_ATTEMPTS`` times; it stays until a later
    pull manages to store it.
    """

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="quarantined")
    provider_key = models.CharField(max_length=500)
    state = models.CharField(max_length=12, choices=FaultState.choices, default=FaultState.QUARANTINED)
    reason = models.TextField()
    attempts = models.PositiveIntegerField(default=1)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    # What the provider needs to ask for the message again (IMAP: folder, uidvalidity, uid).
    locator = models.JSONField(default=dict, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    raw = models.BinaryField(blank=True, default=b"")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "provider_key"], name="quarantine_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider_key}: {self.reason}"


class UnplacedMessage(models.Model):
    """A message that left its IMAP folder and has not been found anywhere yet.

    It is deleted in the app only on evidence: found in Trash (at once), or not found by
    ``DELETE_CONFIRM_CHECKS`` complete checks of every folder on pulls in a row, the last one
    at least ``IMAP_DELETE_CONFIRM_DELAY_SECONDS`` after the first (sync/providers/imap/
    placement.py). An incomplete check (a folder that could not be opened or searched, a
    folder list that changed, a refused search) resets the streak: nothing is deleted on a
    guess. Listed on the mailbox status page.
    """

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="unplaced")
    message = models.ForeignKey("inbox.Message", on_delete=models.CASCADE, related_name="+")
    message_id_header = models.CharField(max_length=998, blank=True)
    # The references that left their folders (what a confirmed deletion removes).
    keys = models.JSONField(default=list, blank=True)
    first_missing_at = models.DateTimeField(default=timezone.now)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    checks = models.PositiveIntegerField(default=0)
    # Complete checks in a row that found no live copy, and when that streak began.
    complete_streak = models.PositiveIntegerField(default=0)
    streak_started_at = models.DateTimeField(null=True, blank=True)
    last_check_complete = models.BooleanField(default=False)
    reason = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "message"], name="unplaced_message_unique")]

    def __str__(self) -> str:
        return f"{self.message_id_header or self.message_id}: {self.reason}"


class GmailMessageId(models.Model):
    """X-GM-MSGID of a message on a Gmail-style IMAP server (``X-GM-EXT-1``): the check
    for a message that left its folder looks it up in All Mail by this id, which every label
    shares, instead of a header search over an index that may lag."""

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey("inbox.Message", on_delete=models.CASCADE, related_name="+")
    msgid = models.DecimalField(max_digits=20, decimal_places=0)  # unsigned 64-bit

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "message"], name="gmail_msgid_unique")]

    def __str__(self) -> str:
        return f"{self.message_id}: {self.msgid}"


class SimulatedFolder(models.TextChoices):
    INBOX = "INBOX", "Inbox"
    ARCHIVE = "Archive", "Archive"
    TRASH = "Trash", "Trash"


class SimulatedMessage(models.Model):
    """The demo's simulated external mailbox: which folder each message of a demo mailbox is
    in "at the provider". Written only by the demo adapter (sync/providers/demo.py), through
    the same pull and outbox push as a real provider; shown on the mailbox's status page."""

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="simulated_messages")
    key = models.CharField(max_length=500)
    message_id = models.CharField(max_length=998, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    sender = models.CharField(max_length=320, blank=True)
    folder = models.CharField(max_length=10, choices=SimulatedFolder.choices, default=SimulatedFolder.INBOX)
    moved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="simulated_message_unique")]
        indexes = [models.Index(fields=["account", "folder", "-moved_at"], name="simulated_folder_idx")]

    def __str__(self) -> str:
        return f"{self.subject or self.message_id} in {self.folder}"
