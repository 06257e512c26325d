"""A digest of everything a pull stored for a mailbox, to prove two codes store the same.

    .venv/bin/python bench/stored_digest.py [--account ID ...]

Prints, per account (default: every account holding messages, oldest first), its message and
conversation counts and an md5 of every stored field that does not depend on the run's clock,
the mailbox's address or UIDVALIDITY, or the random bytes of the bench's attachments: each
message's ids, subject, sender, To/Cc, text, HTML, attachment list, problems, direction and
references; its provider reference's folder and UID; the Message-IDs of its conversation, that
conversation's participants, subject, snippet, state, counts and flags; and the Attachment rows
with their sizes (docs/bench/profile-initial-sync-after-s27.txt, section 1).

Run after ``bench/imap_initial_sync.py --keep-db`` of each code against the same database
(DATABASE_URL, as the bench).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/salesinbox_bench_imap")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "RVpRVGtkN3F6cXh2bUhRd0lVVXp5a1dHbHd2b3V3d1E=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SECURE_COOKIES", "0")

import django  # noqa: E402

django.setup()

from inbox.models import Attachment, Conversation, MailAccount, Message, Participant, ProviderRef  # noqa: E402


def digest(account: MailAccount) -> tuple[int, int, str]:
    """(messages, conversations, md5 of the stored fields) of one account."""
    address = account.address.lower()
    conversations = {
        c.pk: c
        for c in Conversation.objects.filter(account=account).only(
            "subject",
            "normalized_subject",
            "snippet",
            "state",
            "message_count",
            "has_incoming",
            "has_outgoing",
            "has_attachments",
            "is_read",
            "shared",
        )
    }
    participants: dict[int, list[tuple[str, str, bool]]] = defaultdict(list)
    for conversation_id, addr, name, is_sender in Participant.objects.filter(
        conversation_id__in=list(conversations)
    ).values_list("conversation_id", "address", "name", "is_sender"):
        participants[conversation_id].append((addr, name, is_sender))
    refs: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    for message_id, folder, uid in ProviderRef.objects.filter(account=account).values_list(
        "message_id", "folder", "uid"
    ):
        refs[message_id].append((folder, uid))
    files: dict[int, list[tuple[object, ...]]] = defaultdict(list)
    for row in (
        Attachment.objects.filter(account=account)
        .order_by("message_id", "position")
        .values_list(
            "message_id",
            "position",
            "filename",
            "content_type",
            "size",
            "inline",
            "content_id",
            "part",
            "transfer_encoding",
            "provider_id",
            "file",
        )
    ):
        files[row[0]].append(row[1:])
    messages = list(Message.objects.filter(account=account).order_by("message_id", "pk"))
    by_conversation: dict[int, list[str]] = defaultdict(list)
    for m in messages:
        by_conversation[m.conversation_id].append(m.message_id)
    md5 = hashlib.md5(usedforsecurity=False)  # a fingerprint, not a secret
    for m in messages:
        c = conversations[m.conversation_id]
        row = [
            m.message_id,
            m.in_reply_to,
            m.references,
            m.subject,
            m.from_address,
            m.from_name,
            m.to,
            m.cc,
            m.text,
            m.html,
            m.attachments,
            m.direction,
            m.parse_problems,
            sorted(refs[m.pk]),
            sorted(by_conversation[m.conversation_id]),
            sorted(participants[c.pk]),
            c.subject,
            c.normalized_subject,
            c.snippet,
            c.state,
            c.message_count,
            c.has_incoming,
            c.has_outgoing,
            c.has_attachments,
            c.is_read,
            c.shared,
            files[m.pk],
        ]
        # The mailbox's address differs between runs (a new bench user each time).
        text = json.dumps(row, default=str, ensure_ascii=False).replace(address, "<the mailbox>")
        md5.update(text.encode())
    return len(messages), len(conversations), md5.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--account", type=int, action="append", default=[])
    args = parser.parse_args()
    accounts = MailAccount.objects.order_by("pk")
    if args.account:
        accounts = accounts.filter(pk__in=args.account)
    for account in accounts:
        count, threads, md5 = digest(account)
        if count:
            print(
                f"account {account.pk} ({account.address}): {count:,} messages, {threads:,} conversations, md5 {md5}"
            )


if __name__ == "__main__":
    main()
