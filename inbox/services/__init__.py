"""Every write to the user's mail state goes through these functions."""

from inbox.services.actions import (
    ActionResult,
    DeletePreview,
    archive_conversations,
    delete_conversations,
    delete_messages,
    mark_read,
    preview_delete,
    read_on_open,
    unarchive_conversations,
)
from inbox.services.external import apply_external_deletions, apply_external_read_state, pause_for_mass_delete
from inbox.services.ingest import ingest_message
from inbox.services.links import (
    link_deal,
    link_lead,
    link_project,
    relink_person,
    set_shared,
    unlink_deal_or_lead,
    unlink_project,
)
from inbox.services.mailboxes import (
    connect_personal_mailbox,
    connect_team_mailbox,
    disconnect_mailbox,
    resume_mailbox,
    set_personal_switches,
    set_team_members,
    set_team_switches,
)
from inbox.services.outbox import retry_failed_change

__all__ = [
    "ActionResult",
    "DeletePreview",
    "apply_external_deletions",
    "apply_external_read_state",
    "archive_conversations",
    "connect_personal_mailbox",
    "connect_team_mailbox",
    "delete_conversations",
    "delete_messages",
    "disconnect_mailbox",
    "ingest_message",
    "link_deal",
    "link_lead",
    "link_project",
    "mark_read",
    "pause_for_mass_delete",
    "preview_delete",
    "read_on_open",
    "relink_person",
    "resume_mailbox",
    "retry_failed_change",
    "set_personal_switches",
    "set_shared",
    "set_team_members",
    "set_team_switches",
    "unarchive_conversations",
    "unlink_deal_or_lead",
    "unlink_project",
]
