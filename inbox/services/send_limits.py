"""How large a message each provider takes through its API, checked when the message is
queued so a rep hears it before Undo runs out, not as "Not sent" later.

The size is the message as it leaves: its MIME, where files are base64 and take about a
third more than on disk. Gmail's ``users.messages.send`` takes up to 35 MB through media
upload (the app always uploads it so). Outlook sends large mail through a draft and
attachment upload sessions (up to 150 MB a file), so its limit is the tenant's own message
size limit, which only Exchange knows: Graph's refusal is shown as it comes. IMAP: the SMTP
server's SIZE, also shown as it comes.
"""

from __future__ import annotations

from inbox.attachments import _mb
from inbox.errors import InvalidRequest
from inbox.models import MailAccount, Provider

MB = 1024 * 1024
MESSAGE_LIMITS: dict[str, tuple[int, str]] = {
    Provider.GMAIL: (35 * MB, "Gmail takes at most 35 MB per message"),
}


def check_message_size(account: MailAccount, size: int) -> None:
    """Refuse a message its mailbox's provider would refuse for its size."""
    limit = MESSAGE_LIMITS.get(account.provider)
    if limit is None or size <= limit[0]:
        return
    raise InvalidRequest(
        f"This message is {_mb(size)} once encoded for sending (files grow by about a third), "
        f"and {limit[1]}. Remove a file, or share it as a link."
    )
