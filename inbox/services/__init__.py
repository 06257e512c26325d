"""Every write to the user's mail state goes through these functions."""

from inbox.services.actions import (
    ActionResult,
    DeletePreview,
    archive_conversations,
    delete_conversations,
    delete_messages,
    mark_read,
    preview_delete,
    unarchive_conversations,
)
from inbox.services.external import apply_external_deletions, pause_for_mass_delete
from inbox.services.ingest import ingest_message
from inbox.services.links import (
    link_deal,
    link_lead,
    link_project,
    set_shared,
    unlink_deal_or_lead,
    unlink_project,
)
from inbox.services.outbox import retry_failed_change

__all__ = [
    "ActionResult",
    "DeletePreview",
    "apply_external_deletions",
    "archive_conversations",
    "delete_conversations",
    "delete_messages",
    "ingest_message",
    "link_deal",
    "link_lead",
    "link_project",
    "mark_read",
    "pause_for_mass_delete",
    "preview_delete",
    "retry_failed_change",
    "set_shared",
    "unarchive_conversations",
    "unlink_deal_or_lead",
    "unlink_project",
]
