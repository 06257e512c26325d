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

from inbox.lookups import values_in
from inbox.models import Attachment, MailAccount, ProviderRef, SendStage
from sync.attachments import decode_transfer
from sync.errors import ProviderAuthError, ProviderPermanentError, ProviderTemporaryError
from sync.providers.base import Checkpoint, PullReport, PushRequest, PushResult, SendAmbiguous, SendRequest
from sync.providers.imap.client import ImapSettings, connect, disconnect, ref_key, search_message_ids
from sync.providers.imap.errors import imap_errors
from sync.providers.imap.folders import ALL_MAIL, FolderMap, discover_folders
from sync.providers.imap.pull import MAX_RECONNECTS, ImapPull
from sync.providers.imap.push import FolderProof, ImapPush
from sync.providers.imap.smtp import SmtpSettings, deliver, smtp_password
from sync.ref_follower import RefFollower


class ImapAdapter:
    def __init__(self, account: MailAccount) -> None:
        self.account = account

    def _password(self) -> str:
        credentials = self.account.credentials
        password = credentials.get("password") if isinstance(credentials, dict) else None
        if not password:
            raise ProviderAuthError(f"No IMAP password is stored for {self.account.address}.")
        return str(password)

    @contextmanager
    def session(self) -> Iterator[IMAPClient]:
        # The password first: a mailbox without one needs the user (re-authentication),
        # whatever else its settings lack.
        password = self._password()
        client = connect(ImapSettings.from_account(self.account), password)
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
            extra: list[IMAPClient] = []

            def reconnect() -> IMAPClient:
                """After the server hung up on one message (at most MAX_RECONNECTS a push)."""
                if len(extra) >= MAX_RECONNECTS:
                    raise ProviderTemporaryError(
                        f"The IMAP server hung up {len(extra)} times during one push"
                    )
                extra.append(connect(ImapSettings.from_account(self.account), self._password()))
                return extra[-1]

            follower = RefFollower(self.account)
            push = ImapPush(
                client,
                self.folders(client),
                proofs=proofs,
                trusted_keys=trusted,
                reconnect=reconnect,
                follow=follower,
            )
            try:
                results = push.run(requests)
            except BaseException:
                follower.close_after_error()
                raise
            finally:
                for other in extra:
                    disconnect(other)
            follower.close()
            return results

    def fetch_attachment(self, ref: ProviderRef, attachment: Attachment) -> Iterator[bytes]:
        """One body section (``BODY.PEEK[2]``), read in partial fetches of ``PART_CHUNK``
        bytes (``<offset.length>``) and decoded on the way: memory stays at a chunk."""
        if ref.uid is None or not ref.folder:
            raise ProviderPermanentError("This email has no IMAP location.")
        with self.session() as client, imap_errors("fetching an attachment"):
            info = client.select_folder(ref.folder, readonly=True)
            if ref.uidvalidity is not None and int(info.get(b"UIDVALIDITY", 0)) != ref.uidvalidity:
                raise ProviderPermanentError(
                    f"{ref.folder} was renumbered (UIDVALIDITY changed); sync first."
                )
            yield from decode_transfer(
                _sections(client, ref.uid, attachment.part), attachment.transfer_encoding
            )

    def send(self, request: SendRequest, checkpoint: Checkpoint) -> dict[str, object]:
        """SMTP, then APPEND to Sent unless the server files it itself. A retry first looks
        for the Message-ID in Sent: found, it was sent and filed — nothing is done again."""
        smtp = SmtpSettings.from_account(self.account)
        password = smtp_password(self.account)
        with self.session() as client, imap_errors("sending"):
            sent = self.folders(client).sent
            if request.retry and sent and _in_folder(client, sent, request.message_id):
                checkpoint(SendStage.FILED)
                return {"found_in_sent": sent}
            if request.stage == SendStage.DATA_SENT:
                raise SendAmbiguous(
                    "An earlier attempt broke off while the outgoing server was receiving the message, "
                    "so it may have been sent. Check with the recipient, then Retry or Edit."
                )
            details: dict[str, object] = {}
            if request.stage != SendStage.ACCEPTED:
                details = deliver(smtp, password, request, checkpoint)
            if smtp.files_sent or not sent:
                return {**details, "filed_by": "the server" if smtp.files_sent else "nobody (no Sent folder)"}
            client.append(sent, request.raw, flags=[b"\\Seen"])
            checkpoint(SendStage.FILED)
            return {**details, "appended_to": sent}


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
    stored: dict[str, tuple[str, int | None, int | None, str]] = {
        key: (folder, validity, uid, mid)
        for key, folder, validity, uid, mid in values_in(
            ProviderRef.objects.filter(account_id=account.pk),
            "key",
            snapshot,
            "key",
            "folder",
            "uidvalidity",
            "uid",
            "message__message_id",
        )
    }
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


PART_CHUNK = 1024 * 1024


def _sections(client: IMAPClient, uid: int, section: str) -> Iterator[bytes]:
    offset = 0
    while True:
        answer = client.fetch([uid], [f"BODY.PEEK[{section}]<{offset}.{PART_CHUNK}>"]).get(uid)
        if answer is None:
            raise ProviderPermanentError("The server no longer has this email.")
        data = next((v for k, v in answer.items() if k.startswith(b"BODY[")), None)
        if data is None:
            raise ProviderPermanentError(f"The server did not return part {section}.")
        data = bytes(data)
        if data:
            yield data
        if len(data) < PART_CHUNK:
            return
        offset += len(data)


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


def _in_folder(client: IMAPClient, folder: str, message_id: str) -> bool:
    client.select_folder(folder, readonly=True)
    search = search_message_ids(client, [message_id])
    if search.refused:
        # Not knowing is no "absent": sending again could send twice.
        raise SendAmbiguous(f"Could not look for the message in {folder}: {search.refused[message_id]}")
    return bool(search.found.get(message_id))
