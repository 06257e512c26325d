"""A digest of everything an initial sync stored for one account, to prove that a faster
pipeline stores the same result: pull with ``bench/imap_initial_sync.py --keep-db`` before and
after a change, then

    DATABASE_URL=postgres://.../salesinbox_<tag>_bench .venv/bin/python bench/stored_digest.py [--account ID]

(default: the newest IMAP account). Every stored field that does not depend on the run's
clock (dates are relative to now in the bench's mailbox; UIDVALIDITY and UIDs are Dovecot's) or on
the random attachment bytes (the account's own address is written as one placeholder): each message's ids, subject, sender, To/Cc, text, HTML,
attachment list, problems, direction, references, the Message-IDs of its conversation and
the conversation's participants, snippet, state, counts and flags, its Attachment rows and
its provider references' folders. Prints the md5, the message and conversation counts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "RVpRVGtkN3F6cXh2bUhRd0lVVXp5a1dHbHd2b3V3d1E=")

import django

django.setup()

from inbox.models import Attachment, Conversation, MailAccount, Message, Participant, ProviderRef  # noqa: E402

MESSAGE_FIELDS = ["message_id", "in_reply_to", "references", "subject", "from_address", "from_name", "to", "cc",
                  "text", "html", "attachments", "direction", "parse_problems"]  # fmt: skip
CONVERSATION_FIELDS = ["subject", "normalized_subject", "snippet", "state", "message_count", "has_incoming",
                       "has_outgoing", "has_attachments", "is_read", "shared"]  # fmt: skip
ATTACHMENT_FIELDS = [
    "position",
    "filename",
    "content_type",
    "size",
    "inline",
    "content_id",
    "part",
    "transfer_encoding",
]


def digest(account_id: int, dump: str = "") -> tuple[str, int, int]:
    messages = list(
        Message.objects.filter(account_id=account_id).values("id", "conversation_id", *MESSAGE_FIELDS)
    )
    conv_mids: dict[int, list[str]] = defaultdict(list)
    for row in messages:
        conv_mids[row["conversation_id"]].append(row["message_id"])
    conversations = {
        row.pop("id"): row
        for row in Conversation.objects.filter(account_id=account_id).values("id", *CONVERSATION_FIELDS)
    }
    participants: dict[int, list[tuple[str, str, bool]]] = defaultdict(list)
    for conv, address, name, is_sender in Participant.objects.filter(
        conversation__account_id=account_id
    ).values_list("conversation_id", "address", "name", "is_sender"):
        participants[conv].append((address, name, is_sender))
    files: dict[int, list[list[object]]] = defaultdict(list)
    for row in Attachment.objects.filter(account_id=account_id).values("message_id", *ATTACHMENT_FIELDS):
        files[row.pop("message_id")].append(list(row.values()))
    # The folder only: Dovecot numbers a maildir's files in the order it lists them, not the
    # bench's order, so the same message has another UID in another run.
    refs: dict[int, list[str]] = defaultdict(list)
    for message, folder in ProviderRef.objects.filter(account_id=account_id).values_list(
        "message_id", "folder"
    ):
        refs[message].append(folder)
    records = []
    for row in messages:
        pk, conv = row.pop("id"), row.pop("conversation_id")
        records.append(
            {
                "message": row,
                "conversation": conversations[conv],
                "thread": sorted(conv_mids[conv]),
                "participants": sorted(participants[conv]),
                "files": sorted(files[pk], key=json.dumps),
                "refs": sorted(refs[pk]),
            }
        )
    # The mailbox's own address is new in each run (the bench adds a Dovecot user).
    own = MailAccount.objects.get(pk=account_id).address
    records = json.loads(json.dumps(records, default=str).replace(json.dumps(own)[1:-1], "<the account>"))
    records.sort(key=lambda record: json.dumps(record, sort_keys=True, default=str))
    blob = json.dumps(records, sort_keys=True, default=str).encode()
    if dump:  # one record a line, to diff two runs that differ
        Path(dump).write_text("".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in records))
    return hashlib.md5(blob, usedforsecurity=False).hexdigest(), len(messages), len(conversations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--account", type=int, default=0)
    parser.add_argument("--dump", default="", help="also write the records here, one JSON object a line")
    args = parser.parse_args()
    account_id = (
        args.account
        or MailAccount.objects.filter(provider="imap").order_by("-pk").values_list("pk", flat=True)[0]
    )
    md5, messages, conversations = digest(account_id, args.dump)
    print(f"account {account_id}: md5 {md5}, {messages:,} messages, {conversations:,} conversations")


if __name__ == "__main__":
    main()
