"""The IMAP adapter: any IMAP server (tested against Dovecot).

account.credentials = {"password": …} (encrypted at rest by the field);
account.config = {"host", "port", "security": ssl|starttls|none, "login",
"folders": {"inbox", "sent", "archive", "trash", "all"?}, "folder_guessed": {…}} — "all" is
Gmail's All Mail (``\\All``) when the server has one.
Pull lives in ``pull``, push in ``push``, folder roles in ``folders``, the protocol helpers in
``client`` and what the server's refusals mean in ``errors``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from imapclient import IMAPClient

from inbox.models import MailAccount
from sync.errors import ProviderAuthError
from sync.providers.base import PullReport, PushRequest, PushResult
from sync.providers.imap.client import ImapSettings, connect, disconnect, ref_key
from sync.providers.imap.errors import imap_errors
from sync.providers.imap.folders import ALL_MAIL, FolderMap, discover_folders
from sync.providers.imap.pull import ImapPull
from sync.providers.imap.push import FolderProof, ImapPush


class ImapAdapter:
    def __init__(self, account: MailAccount) -> None:
        self.account = account

    @contextmanager
    def session(self) -> Iterator[IMAPClient]:
        credentials = self.account.credentials
        password = credentials.get("password") if isinstance(credentials, dict) else None
        if not password:
            raise ProviderAuthError(f"No IMAP password is stored for {self.account.address}.")
        client = connect(ImapSettings.from_account(self.account), str(password))
        try:
            yield client
        finally:
            disconnect(client)

    def folders(self, client: IMAPClient) -> FolderMap:
        """The folder roles chosen at connect time; found afresh when none were stored."""
        config = self.account.config or {}
        stored = FolderMap.from_config(config)
        if stored is None:
            return discover_folders(client)
        folders = config.get("folders")
        if stored.archive is None and isinstance(folders, dict) and ALL_MAIL not in folders:
            # Connected before All Mail (\\All) was looked for: a Gmail-style server archives there.
            stored.all_mail = discover_folders(client).all_mail
        return stored

    def pull(self) -> PullReport:
        with self.session() as client, imap_errors("syncing"):
            return ImapPull(self.account, client, self.folders(client)).run()

    def push(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        with self.session() as client, imap_errors("pushing changes"):
            proofs, trusted = folder_proofs(self.account, requests)
            return ImapPush(client, self.folders(client), proofs=proofs, trusted_keys=trusted).run(requests)


def folder_proofs(
    account: MailAccount, requests: Sequence[PushRequest]
) -> tuple[dict[str, FolderProof], set[str]]:
    """Each folder as the last pull left it (FolderProof), and the snapshot references a
    proof may vouch for: exactly as the database has them (key, folder, UIDVALIDITY, UID and
    Message-ID agree) and not among those the last pull saw leave their folder without
    placing them (unplaced, or held by the mass-delete guard)."""
    from inbox.models import ProviderRef
    from sync.models import FolderState, UnplacedMessage

    proofs: dict[str, FolderProof] = {}
    unproven: set[str] = set()
    for state in FolderState.objects.filter(account=account):
        extra = state.extra if isinstance(state.extra, dict) else {}
        unproven |= set(extra.get("held_deletions") or {})
        exists = extra.get("exists")
        if state.folder and None not in (state.uidvalidity, state.uidnext, state.highestmodseq, exists):
            proofs[state.folder] = FolderProof(
                int(state.uidvalidity),  # type: ignore[arg-type]
                int(state.uidnext),  # type: ignore[arg-type]
                int(exists),  # type: ignore[arg-type, call-overload]
                int(state.highestmodseq),  # type: ignore[arg-type]
            )
    if not proofs:
        return proofs, set()
    for keys in UnplacedMessage.objects.filter(account=account).values_list("keys", flat=True):
        unproven |= set(keys or [])
    snapshot = {str(ref.get("key")): ref for request in requests for ref in request.refs if ref.get("key")}
    wanted = sorted(snapshot)
    stored: dict[str, tuple[str, int | None, int | None, str]] = {}
    for start in range(0, len(wanted), 1000):
        rows = ProviderRef.objects.filter(account_id=account.pk, key__in=wanted[start : start + 1000])
        for key, folder, validity, uid, mid in rows.values_list(
            "key", "folder", "uidvalidity", "uid", "message__message_id"
        ):
            stored[key] = (folder, validity, uid, mid)
    trusted = set()
    for key, ref in snapshot.items():
        row = stored.get(key)
        if row is None or key in unproven or row[1] is None or row[2] is None:
            continue
        same = (
            row[0] == ref.get("folder")
            and str(row[1]) == str(ref.get("uidvalidity"))
            and str(row[2]) == str(ref.get("uid"))
            and row[3] == ref.get("message_id")
            and key == ref_key(row[0], int(row[1]), int(row[2]))
        )
        if same:
            trusted.add(key)
    return proofs, trusted


@dataclass(frozen=True)
class VerifiedMailbox:
    config: dict[str, object]
    folders: FolderMap
    capabilities: list[str]


def verify_mailbox(*, host: str, port: int, security: str, login: str, password: str) -> VerifiedMailbox:
    """Log in once and find the folders: what connecting a mailbox stores in its config.

    Raises ProviderAuthError for a refused login, ProviderTemporaryError when the server
    cannot be reached, ProviderPermanentError for unusable settings.
    """
    settings = ImapSettings(host=host, port=port, security=security, login=login)
    client = connect(settings, password)
    try:
        with imap_errors("finding the folders"):
            folders = discover_folders(client)
            capabilities = sorted(
                c.decode() if isinstance(c, bytes) else str(c) for c in client.capabilities()
            )
    finally:
        disconnect(client)
    config: dict[str, object] = {
        "host": host,
        "port": port,
        "security": security,
        "login": login,
        **folders.to_config(),
    }
    return VerifiedMailbox(config, folders, capabilities)
