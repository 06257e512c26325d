"""IMAP tests run against real Dovecot servers (tests/imap/dovecot.py): one per
configuration for the whole session (their fixtures are in tests/plugins/servers.py, shared
with every package), a fresh mailbox (passwd-file user) per test."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from django.db.backends.signals import connection_created
from imapclient import IMAPClient

from accounts.models import Company, User
from inbox.models import AccountKind, MailAccount, Provider
from sync.providers.imap import verify_mailbox
from sync.pull import PullSummary, pull_account
from sync.push import PushSummary, push_account
from tests.factories import switches
from tests.imap.dovecot import Dovecot, MailUser, make_message
from tests.imap.live_copies import assert_one_live_copy
from tests.plugins.servers import require_cyrus, server

__all__ = ["ImapSetup", "connect_account", "folder_ids", "make_setup", "require_cyrus", "server"]


def folder_ids(client: IMAPClient, folder: str) -> list[str]:
    """Message-IDs of the live messages in a folder (for asserting what the server holds).

    ``\\Deleted`` leftovers not yet expunged are not counted: a mail client hides them and
    the next EXPUNGE by anyone removes them (tests/imap/live_copies.py checks there is one
    live copy of each message)."""
    from sync.providers.imap.client import fetch_message_ids

    client.select_folder(folder, readonly=True)
    uids = client.search("UNDELETED")
    return sorted(fetch_message_ids(client, uids).values()) if uids else []


@dataclass
class ImapSetup:
    """One connected IMAP mailbox in the app and at Dovecot, and who acts on it."""

    account: MailAccount
    user: MailUser
    actor: User
    kind: str
    _mua: IMAPClient | None = None

    # --- the server side ---------------------------------------------------------------
    def deliver(self, folder: str = "inbox", *, flags: tuple[bytes, ...] = (), **message: object) -> str:
        """APPEND a message to a folder (by role or name); returns its Message-ID."""
        message.setdefault("to", self.account.address)
        message_id, raw = make_message(**message)  # type: ignore[arg-type]
        self.append(folder, raw, flags=flags)
        return message_id

    def append(
        self, folder: str, raw: bytes, *, flags: tuple[bytes, ...] = (), when: datetime | None = None
    ) -> None:
        self.mua().append(self.folder(folder), raw, flags=flags, msg_time=when)

    def folder(self, role_or_name: str) -> str:
        if role_or_name in ("inbox", "sent", "archive", "trash"):
            return self.user.folder(role_or_name)
        return role_or_name

    def client(self) -> IMAPClient:
        """A fresh connection of the user's mail client (close it, e.g. with ``with``)."""
        return self.user.mua_client()

    def mua(self) -> IMAPClient:
        """The user's mail client: one connection kept for the test (every use re-selects).
        It talks to the server as the app sees it, except for faults a test switches on at
        the fault proxy (``dovecot_faulty``): those are for the app alone."""
        if self._mua is None:
            self._mua = self.user.mua_client()
        return self._mua

    def close(self) -> None:
        if self._mua is not None:
            with contextlib.suppress(Exception):
                self._mua.logout()
            self._mua = None

    def ids(self, folder: str) -> list[str]:
        return folder_ids(self.mua(), self.folder(folder))

    def placement(self, expected: Iterable[str] = ()) -> dict[str, str]:
        """{Message-ID: role ("inbox", "sent", "archive", "trash") or folder name} of every
        message at the server — after asserting each has exactly one live copy across all
        folders (tests/imap/live_copies.py) and every ``expected`` one is there. On the
        Gmail-style server "archive" means "in All Mail and no other folder"."""
        roles = {self.folder(role): role for role in ("inbox", "sent", "archive", "trash")}
        where = assert_one_live_copy(self.mua(), expected)
        return {mid: roles.get(folder, folder) for mid, folder in where.items()}

    def custom_folder(self, *parts: str) -> str:
        """A user's own folder, named the way this server names folders ("INBOX.A.B", "A/B")."""
        spec = self.user.server.spec
        return spec.prefix + spec.separator.join(parts)

    def move(self, message_id: str, source: str, target: str) -> None:
        """What a user's mail client does: move one message between folders."""
        client = self.mua()
        uid = self.uid_of(client, message_id, source)
        client.copy([uid], self.folder(target))
        client.delete_messages([uid])
        self._expunge(client, uid)

    def expunge(self, message_id: str, folder: str) -> None:
        """Delete for good (no Trash), as "shift+delete" does."""
        client = self.mua()
        uid = self.uid_of(client, message_id, folder)
        client.delete_messages([uid])
        self._expunge(client, uid)

    def expunge_all(self) -> None:
        """What another mail client does on "compact"/"empty deleted": EXPUNGE every folder."""
        client = self.mua()
        for flags, _, name in client.list_folders():
            if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                continue
            client.select_folder(name)
            client.expunge()

    @staticmethod
    def _expunge(client: IMAPClient, uid: int) -> None:
        # Without UIDPLUS there is no UID EXPUNGE: a client expunges every \Deleted message
        # of the folder (leftovers of the app's own copies included), as real clients do.
        if client.has_capability("UIDPLUS"):
            client.uid_expunge([uid])
        else:
            client.expunge()

    def uid_of(self, client: IMAPClient, message_id: str, folder: str) -> int:
        client.select_folder(self.folder(folder))
        charset = None if message_id.isascii() else "UTF-8"
        uids = client.search(["UNDELETED", "HEADER", "Message-ID", message_id], charset=charset)
        assert len(uids) == 1, f"{message_id} is {len(uids)} times in {folder}"
        return uids[0]

    # --- the app side -------------------------------------------------------------------
    def switches(self, *, archive: bool = False, delete: bool = False) -> None:
        if self.kind == "personal":
            switches(self.actor, archive=archive, delete=delete)
        else:
            MailAccount.objects.filter(pk=self.account.pk).update(
                archive_in_provider=archive, delete_in_provider=delete
            )
            self.account.refresh_from_db()

    def pull(self) -> PullSummary:
        summary = pull_account(self.account.pk)
        assert not summary.error and not summary.skipped_reason, summary.line()
        self.account.refresh_from_db()
        return summary

    def push(self) -> PushSummary:
        summary = push_account(self.account.pk)
        self.account.refresh_from_db()
        return summary


def connect_account(
    mail_user: MailUser, *, company: Company, owner: User | None = None, members: list[User] | None = None
) -> MailAccount:
    """Store an account the way connect_imap does: verified login, discovered folders."""
    verified = verify_mailbox(password=mail_user.password, **mail_user.account_config())  # type: ignore[arg-type]
    account = MailAccount.objects.create(
        company=company,
        kind=AccountKind.TEAM if owner is None else AccountKind.PERSONAL,
        owner=owner,
        provider=Provider.IMAP,
        address=mail_user.address,
        name=mail_user.address,
        credentials={"password": mail_user.password},
        config=verified.config,
    )
    if members:
        account.members.set(members)
    return account


def make_setup(server: Dovecot, kind: str, *, acme: Company, alice: User, bob: User) -> ImapSetup:
    mail_user = server.add_user("team" if kind == "team" else "rep")
    if kind == "team":
        account = connect_account(mail_user, company=acme, members=[alice, bob])
        actor = bob  # a regular member acts on the shared mailbox; alice (admin) sets switches
    else:
        account = connect_account(mail_user, company=acme, owner=alice)
        actor = alice
    return ImapSetup(account, mail_user, actor, kind)


@pytest.fixture
def imap(dovecot: Dovecot, acme: Company, alice: User, bob: User) -> Iterator[ImapSetup]:
    """Alice's personal mailbox on the standard Dovecot."""
    setup = make_setup(dovecot, "personal", acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


@pytest.fixture(params=["personal", "team"])
def mailbox(
    request: pytest.FixtureRequest, any_dovecot: Dovecot, acme: Company, alice: User, bob: User
) -> Iterator[ImapSetup]:
    """Personal and team mailbox, on both server configurations."""
    setup = make_setup(any_dovecot, request.param, acme=acme, alice=alice, bob=bob)
    yield setup
    setup.close()


@pytest.fixture
def connection_threads() -> Iterator[list[str]]:
    """Names of the threads (other than this one) that opened a database connection."""
    names: list[str] = []

    def opened(sender: object, connection: Any, **kwargs: object) -> None:
        if threading.current_thread() is not threading.main_thread():
            names.append(threading.current_thread().name)

    connection_created.connect(opened)
    yield names
    connection_created.disconnect(opened)
