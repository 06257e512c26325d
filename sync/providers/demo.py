"""The demo adapter: demo mailboxes are connected to a simulated external mailbox.

It is a provider like the others, driven by the same pull (beat, or the nudge after
``seed_demo``) and the same outbox push (a worker claims the changes an archive or delete
wrote when the matching switch is on). Its "server" is the SimulatedMessage table: an Inbox,
an Archive and a Trash that the mailbox's status page shows, so a newcomer sees archive and
delete land there when the switches are on — and nothing move when they are off.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from inbox.models import MailAccount, ProviderRef
from sync.models import SimulatedFolder, SimulatedMessage
from sync.providers.base import Outcome, PullReport, PushRequest, PushResult

# Where each kind of change puts a message at the (simulated) provider.
NO_READ_FLAGS = "stays in the app: the simulated mailbox keeps no read flags"
TARGET = {
    "archive": SimulatedFolder.ARCHIVE,
    "unarchive": SimulatedFolder.INBOX,
    "trash": SimulatedFolder.TRASH,
}
BATCH = 1000


def mirror_refs(account: MailAccount) -> int:
    """Put every message the app knows of this mailbox into the simulated mailbox, in the
    folder its reference names (the first sync of a real mailbox finds them there)."""
    known = set(SimulatedMessage.objects.filter(account=account).values_list("key", flat=True))
    rows = [
        SimulatedMessage(
            account=account,
            key=ref["key"],
            message_id=ref["message__message_id"],
            subject=ref["message__subject"],
            sender=ref["message__from_name"] or ref["message__from_address"],
            folder=ref["folder"] if ref["folder"] in SimulatedFolder.values else SimulatedFolder.INBOX,
        )
        for ref in ProviderRef.objects.filter(account=account).values(
            "key",
            "folder",
            "message__message_id",
            "message__subject",
            "message__from_name",
            "message__from_address",
        )
        if ref["key"] not in known
    ]
    SimulatedMessage.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
    return len(rows)


class DemoAdapter:
    def __init__(self, account: MailAccount) -> None:
        self.account = account

    def pull(self) -> PullReport:
        # Nothing new ever arrives in the simulated mailbox; the pull only mirrors.
        mirrored = mirror_refs(self.account)
        return PullReport(notes=[f"{mirrored} messages placed in the simulated mailbox"] if mirrored else [])

    def push(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        mirror_refs(self.account)
        return [
            PushResult(r.change_id, Outcome.DONE, details={"read state": NO_READ_FLAGS})
            if r.kind in ("read", "unread")
            else self._apply(r)
            for r in requests
        ]

    @transaction.atomic
    def _apply(self, request: PushRequest) -> PushResult:
        target = TARGET.get(request.kind)
        if target is None:
            return PushResult(request.change_id, Outcome.FAILED, error=f"Unknown change {request.kind!r}.")
        now = timezone.now()
        moved = already = 0
        relocated: dict[str, dict[str, object]] = {}
        for ref in request.refs:
            key = str(ref["key"])
            row = SimulatedMessage.objects.select_for_update().filter(account=self.account, key=key).first()
            if row is None:
                # Deleted in the app before the mailbox was first mirrored: known by its snapshot.
                row = SimulatedMessage(
                    account=self.account, key=key, message_id=str(ref.get("message_id") or ""), subject=""
                )
            if row.folder == target and row.pk is not None:
                already += 1  # idempotent: a change pushed twice moves nothing the second time
            else:
                row.folder, row.moved_at = target, now
                row.save()
                moved += 1
            if target != SimulatedFolder.TRASH:
                relocated[key] = {"key": key, "folder": target, "uidvalidity": None, "uid": None}
        return PushResult(
            request.change_id,
            Outcome.DONE,
            details={"moved": moved, "already_there": already, "folder": target.label},
            relocated=relocated,
        )
