"""Shared set-up for the IMAP benchmarks that need a big mailbox already known to the app
(bench/imap_push_archive.py, bench/imap_incremental.py).

A real Dovecot (tests/imap/dovecot.py, on this bench's ports 14800-14899) is filled by
writing maildir files directly; the app learns the messages by a bulk insert of
conversations, messages and provider references whose keys are the UIDs Dovecot assigned
(read back with one FETCH of the Message-IDs). Then one real ``pull_account`` adopts the
mailbox: every UID is already known, so it only stores the folder cursors — and it proves
the references match (report.duplicates == messages).

Importing 100,000 messages through the real pull would take minutes and measure the
initial sync again (bench/imap_initial_sync.py does that); these benchmarks are about what
comes after.
"""

from __future__ import annotations

import email.utils
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(database: str) -> None:
    """A fresh, migrated salesinbox_bench_* database, then django.setup()."""
    from bench.common import fresh_database

    # BENCH_DB_SUFFIX keeps two bench runs on one PostgreSQL (two checkouts) apart.
    os.environ["DATABASE_URL"] = fresh_database(database + os.environ.get("BENCH_DB_SUFFIX", ""))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DEBUG"] = "0"  # DEBUG would record every query
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "RVpRVGtkN3F6cXh2bUhRd0lVVXp5a1dHbHd2b3V3d1E=")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("SECURE_COOKIES", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/10")
    import django

    django.setup()


def start_dovecot(store: str = "maildir"):  # type: ignore[no-untyped-def]
    """The suite's standard Dovecot; ``store``: maildir (the default), sdbox or mdbox."""
    import tests.imap.dovecot as dovecot

    return dovecot.Dovecot("standard", store=store).start()


def small_messages(count: int, rep: str, *, tag: str = "m", start: int = 0) -> list[tuple[str, bytes]]:
    """Short plain sales mails (about 600 bytes), one conversation each."""
    now = datetime.now().astimezone()
    out: list[tuple[str, bytes]] = []
    for n in range(start, start + count):
        mid = f"<{tag}-{n}@customer{n % 50}.test>"
        raw = "\r\n".join(
            [
                f"From: Buyer {n % 500} <buyer{n % 500}@customer{n % 50}.test>",
                f"To: Rep <{rep}>",
                f"Subject: Quote request {tag} {n}",
                f"Date: {email.utils.format_datetime(now - timedelta(seconds=count - n))}",
                f"Message-ID: {mid}",
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=utf-8",
                "",
                "Hello, could you send the price for 25 seats and the contract terms? " * 5,
                "",
            ]
        )
        out.append((mid, raw.encode()))
    return out


def uid_map(client, folder: str = "INBOX") -> tuple[int, dict[int, str]]:  # type: ignore[no-untyped-def]
    """(UIDVALIDITY, uid → Message-ID) of a folder, read with imapclient."""
    from sync.providers.imap.client import fetch_message_ids

    selected = client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    return int(selected[b"UIDVALIDITY"]), fetch_message_ids(client, uids)


def imap_account(user, *, company, rep, **fields):  # type: ignore[no-untyped-def]
    """The rep's personal mailbox for a Dovecot bench user, its settings verified by a real
    login as the connect form does (``fields``: e.g. ``sync_past_days``)."""
    from inbox.models import AccountKind, MailAccount, Provider
    from sync.providers.imap import verify_mailbox

    verified = verify_mailbox(password=user.password, **user.account_config())
    return MailAccount.objects.create(
        company=company,
        kind=AccountKind.PERSONAL,
        owner=rep,
        provider=Provider.IMAP,
        address=user.address,
        credentials={"password": user.password},
        config=verified.config,
        **fields,
    )


def make_account(user, *, archive_switch: bool = False):  # type: ignore[no-untyped-def]
    from accounts.models import Company, Plan, Role, User
    from inbox.models import UserSyncSettings

    company = Company.objects.create(name=f"Bench {time.time_ns()}", plan=Plan.PREMIUM)
    rep = User.objects.create_user(f"rep-{time.time_ns()}@bench.test", company=company, role=Role.ADMIN)
    UserSyncSettings.objects.update_or_create(
        user=rep, defaults={"archive_in_provider": archive_switch, "delete_in_provider": False}
    )
    return rep, imap_account(user, company=company, rep=rep)


def bulk_ingest(account, folder: str, uidvalidity: int, mids: dict[int, str]) -> None:  # type: ignore[no-untyped-def]
    """One conversation + message + provider reference per UID, in bulk."""
    from django.db import transaction
    from django.utils import timezone

    from inbox.models import Conversation, Message, ProviderRef
    from sync.providers.imap.client import ref_key

    now = timezone.now()
    items = sorted(mids.items())
    with transaction.atomic():
        for start in range(0, len(items), 5000):
            part = items[start : start + 5000]
            convs = Conversation.objects.bulk_create(
                [
                    Conversation(
                        company_id=account.company_id,
                        account=account,
                        subject=f"Quote request {uid}",
                        normalized_subject=f"quote request {uid}",
                        first_message_at=now,
                        last_message_at=now,
                        has_incoming=True,
                    )
                    for uid, _ in part
                ]
            )
            msgs = Message.objects.bulk_create(
                [
                    Message(
                        conversation=conv,
                        account=account,
                        message_id=mid,
                        subject=conv.subject,
                        from_address="buyer@customer.test",
                        sent_at=now,
                        text="Hello",
                    )
                    for conv, (_uid, mid) in zip(convs, part, strict=True)
                ]
            )
            ProviderRef.objects.bulk_create(
                [
                    ProviderRef(
                        message=msg,
                        account=account,
                        key=ref_key(folder, uidvalidity, uid),
                        folder=folder,
                        uidvalidity=uidvalidity,
                        uid=uid,
                    )
                    for msg, (uid, _mid) in zip(msgs, part, strict=True)
                ]
            )
    # What autovacuum does in production after a bulk load like this one. The test PostgreSQL
    # runs with autovacuum off: without statistics the planner takes a 100,000-message account
    # for a few dozen rows and answers every "IN (…)" on an index's second column by reading
    # all of the account's rows (see docs/bench/profile-incremental-*.txt).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE inbox_conversation, inbox_message, inbox_providerref, inbox_participant, inbox_tombstone"
        )


def settle_disk() -> None:
    """Before each timed run: PostgreSQL's dirty pages written (CHECKPOINT) and the kernel's
    flushed (sync), so no run pays for what the run before it wrote."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    os.sync()


def adopt(account) -> object:  # type: ignore[no-untyped-def]
    """The real pull once: every UID known, so it stores the cursors and imports nothing."""
    from sync.pull import pull_account

    return pull_account(account.pk)


class CommandCounter:
    """Counts the IMAP commands every imaplib connection sends while active (imapclient
    sits on imaplib). A transparent wrapper: the original method still sends each one."""

    def __init__(self) -> None:
        from collections import Counter

        self.counts: Counter[str] = Counter()

    def __enter__(self) -> CommandCounter:
        import imaplib

        original = imaplib.IMAP4._command
        counts = self.counts

        def counting(conn, name, *args):  # type: ignore[no-untyped-def]
            label = f"UID {args[0]}" if name == "UID" and args else name
            counts[str(label).upper()] += 1
            return original(conn, name, *args)

        self._original = original
        imaplib.IMAP4._command = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        import imaplib

        imaplib.IMAP4._command = self._original  # type: ignore[method-assign]

    @property
    def total(self) -> int:
        return sum(self.counts.values())
