"""A real Dovecot for the tests: unprivileged, on a loopback port, passwd-file users,
maildir in a temporary folder.

Configurations (``VARIANTS``; the server matrix of issue 14 — see tests/imap/servers/__init__.py
for how tests use each one):

* ``standard`` (a) — Archive/Trash/Sent carry RFC 6154 special-use flags; Dovecot's full
  capability list (MOVE, UIDPLUS, CONDSTORE, QRESYNC, SPECIAL-USE, …); plain IMAP with
  STARTTLS on one port and implicit TLS on another (the suite's test CA, tests/fakes/tls.py).
* ``fallback`` — no special-use flags and unusual folder names ("Archives", "Deleted
  Items", "Sent Items") so the adapter must guess; and no MOVE, CONDSTORE, QRESYNC or
  SPECIAL-USE. Dovecot 2.3 has no switch to turn MOVE off, but ``imap_capability``
  without a leading ``+`` *replaces* the advertised list, and clients (imapclient's
  ``move()`` included) decide by what is advertised.
* ``nomove`` (b) — neither MOVE nor UIDPLUS. Advertising alone is not enough (Dovecot still
  accepts MOVE and UID EXPUNGE and sends COPYUID), so a FaultProxy in front
  (tests/imap/servers/proxy.py) refuses those commands and strips those response codes.
* ``localized`` (c) — no SPECIAL-USE; "INBOX." namespace prefix with "." separator (Courier
  and Cyrus style) and German folder names.
* ``gmail`` (d) — "[Gmail]/All Mail" (``\\All``), "[Gmail]/Trash", "[Gmail]/Sent Mail",
  "[Gmail]/Spam" from the virtual plugin; no ``\\Archive`` (see GMAIL_LAYOUT).
* ``faulty`` (f) — the standard layout behind a FaultProxy whose faults tests switch on/off.

(e), Cyrus IMAP, is tests/imap/servers/cyrus.py.

Mail store (``store``): ``maildir`` (the default: one file per message, which the tests and
benchmarks rely on to drop files in) or ``sdbox``/``mdbox`` (Dovecot's own indexed formats;
bench/imap_incremental.py compares them). Indexes are on disk beside the mail either way, as
in production.

Dovecot runs as the invoking user; when that is root (CI containers) it is started as the
``dovecot`` system user the Debian package creates, so nothing of it runs privileged.
Users are lines in a passwd-file Dovecot re-reads when it changes: every test gets a
fresh mailbox by adding a user, and one server serves the whole session.
"""

from __future__ import annotations

import email.utils
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from imapclient import IMAPClient

from tests.imap.servers.local_server import LocalServer, server_user
from tests.imap.servers.proxy import FaultProxy
from tests.ports import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "correct horse battery staple"
POOL_SIZE = 500

# Dovecot 2.3.19's own post-login capability list.
FULL_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
    "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
    "STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"
)


def capabilities_without(*names: str) -> str:
    return " ".join(c for c in FULL_CAPABILITIES.split() if c not in names)


# The fallback list: no MOVE, CONDSTORE, QRESYNC or SPECIAL-USE.
FALLBACK_CAPABILITIES = capabilities_without("MOVE", "CONDSTORE", "QRESYNC", "SPECIAL-USE")


@dataclass(frozen=True)
class Variant:
    """How one configuration of the suite's Dovecot looks to a client."""

    folders: dict[str, str]  # role → full folder name as LIST shows it (decoded)
    special_use: bool = True
    capability: str | None = None  # None: Dovecot's own list
    tls: bool = False
    prefix: str = ""  # the personal namespace's prefix
    separator: str = "/"
    missing: tuple[str, ...] = ()  # really missing: enforced by a FaultProxy in front
    proxy: bool = False  # a FaultProxy in front (tests switch faults on and off)
    gmail: bool = False  # the Gmail-style layout of GMAIL_LAYOUT (virtual plugin)


VARIANTS: dict[str, Variant] = {
    # (a) full capabilities, special-use folders, STARTTLS and implicit TLS
    "standard": Variant({"sent": "Sent", "archive": "Archive", "trash": "Trash"}, tls=True),
    # unusual names to guess; no MOVE, CONDSTORE, QRESYNC, SPECIAL-USE
    "fallback": Variant(
        {"sent": "Sent Items", "archive": "Archives", "trash": "Deleted Items"},
        special_use=False,
        capability=FALLBACK_CAPABILITIES,
    ),
    # (b) neither MOVE nor UIDPLUS: not advertised, refused, no COPYUID/APPENDUID codes
    "nomove": Variant(
        {"sent": "Sent", "archive": "Archive", "trash": "Trash"},
        capability=capabilities_without("MOVE", "UIDPLUS"),
        missing=("MOVE", "UIDPLUS"),
    ),
    # (c) Courier/Cyrus-style layout: "INBOX." prefix, "." separator, German names, no SPECIAL-USE
    "localized": Variant(
        {"sent": "INBOX.Gesendete Elemente", "archive": "INBOX.Archiv", "trash": "INBOX.Gelöschte Elemente"},
        special_use=False,
        capability=capabilities_without("SPECIAL-USE"),
        prefix="INBOX.",
        separator=".",
    ),
    # (d) Gmail-style: "[Gmail]/All Mail" (\All) is a view of every folder but Trash and Spam;
    # no \Archive. Archiving = leaving INBOX while staying in All Mail.
    "gmail": Variant(
        {"sent": "[Gmail]/Sent Mail", "archive": "[Gmail]/All Mail", "trash": "[Gmail]/Trash"},
        gmail=True,
    ),
    # (f) the standard layout behind a FaultProxy
    "faulty": Variant({"sent": "Sent", "archive": "Archive", "trash": "Trash"}, proxy=True),
}
FOLDERS = {name: variant.folders for name, variant in VARIANTS.items()}

# (d) How the Gmail-style layout is built with Dovecot's virtual plugin. "[Gmail]/" is a
# namespace of virtual mailboxes; each is a view of real folders kept in a hidden namespace
# (".store/", not listed). A mailbox marked "!" is where a message saved (APPEND, COPY, MOVE)
# into the virtual mailbox really goes: a MOVE from INBOX into All Mail lands in the hidden
# ".store/Archived" — out of INBOX, still in All Mail, exactly Gmail's "archive". "*" is
# every folder of the personal namespace (INBOX and the user's own folders/labels), so All
# Mail shows them too, and not Trash or Spam. Dovecot returns no COPYUID/APPENDUID for saves
# into a virtual mailbox (a client must find the copy by searching), and a message gets a new
# All Mail UID when it is archived. X-GM-EXT-1 is NOT advertised: Dovecot cannot provide
# X-GM-MSGID/X-GM-LABELS, and a server claiming it without them would be a lie.
GMAIL_LAYOUT = {
    # virtual mailbox (under "[Gmail]/"): (special-use flag, dovecot-virtual contents)
    "All Mail": ("\\All", "!.store/Archived\n*\n.store/Sent\n  all\n"),
    "Sent Mail": ("\\Sent", "!.store/Sent\n  all\n"),
    "Trash": ("\\Trash", "!.store/Trash\n  all\n"),
    "Spam": ("\\Junk", "!.store/Spam\n  all\n"),
}

# Mail stores the suite's Dovecot can run with (see the module docstring).
STORES = ("maildir", "sdbox", "mdbox")
APPEND_BATCH = 1000  # messages per MULTIAPPEND when filling a dbox store

_user_numbers = itertools.count(1)


@dataclass(frozen=True)
class MailUser:
    """One Dovecot login (a fresh mailbox) on one server."""

    server: Dovecot
    login: str
    password: str

    @property
    def address(self) -> str:
        return self.login

    def client(self) -> IMAPClient:
        return self.server.client(self.login, self.password)

    def mua_client(self) -> IMAPClient:
        """Another mail client of this user: past the fault proxy of ``faulty`` (its faults
        are for the app), but never past the traits of a variant (``nomove`` lacks MOVE and
        UIDPLUS for every client)."""
        return self.server.client(self.login, self.password, mua=True)

    def folder(self, role: str) -> str:
        return "INBOX" if role == "inbox" else self.server.folders[role]

    def account_config(self) -> dict[str, object]:
        return {
            "host": "127.0.0.1",
            "port": self.server.port,
            "security": "none",
            "login": self.login,
        }


class Dovecot(LocalServer):
    server_name = "Dovecot"
    log_files = ("dovecot.log", "stdout.log")

    def __init__(
        self, variant: str = "standard", *, root: Path | None = None, store: str = "maildir"
    ) -> None:
        assert variant in VARIANTS
        assert store in STORES
        self.variant = variant
        self.store = store
        self.spec = VARIANTS[variant]
        self.folders = self.spec.folders
        self.root = Path(root or tempfile.mkdtemp(prefix=f"si-dovecot-{variant}-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0  # where clients connect: the proxy's port when there is one
        self.dovecot_port = 0  # Dovecot's own plain-IMAP listener
        self.proxy: FaultProxy | None = None
        self.tls_port = 0
        self.ca_file: Path | None = None
        self._pool: list[str] = []
        self.run_as = server_user("dovecot")

    # --- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 20, attempts: int = 5) -> Dovecot:
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.passwd_file.touch()
        self._fill_pool(wait=False)
        if self.spec.tls:
            self._make_certificate()
        if self.spec.gmail:
            for name, (_, contents) in GMAIL_LAYOUT.items():
                (self.root / "virtual" / name).mkdir(parents=True, exist_ok=True)
                (self.root / "virtual" / name / "dovecot-virtual").write_text(contents)
        self._start_on_a_free_port(timeout, attempts)
        if self.spec.proxy or self.spec.missing:
            self.proxy = FaultProxy(self.dovecot_port)
            self.proxy.without_capabilities(*self.spec.missing).start()
            self.port = self.proxy.port
        return self

    def _start_once(self, timeout: float) -> bool:
        self.port = self.dovecot_port = free_port()
        if self.spec.tls:
            self.tls_port = free_port(exclude=[self.port])
        self.config_file.write_text(self._config())
        self._chown(self.root)
        log = (self.root / "stdout.log").open("wb")
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self.run_as.pw_uid,
            group=self.run_as.pw_gid,
            extra_groups=[],
        )
        return self._came_up(lambda: self._listening(self.port) and self._still_ours(), timeout)

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        super().stop()

    @property
    def config_file(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def passwd_file(self) -> Path:
        return self.root / "passwd"

    # --- users and clients ---------------------------------------------------------------
    def add_user(self, prefix: str = "rep") -> MailUser:
        """A fresh mailbox. Logins come from a pool written ahead: Dovecot re-reads the
        passwd-file at most once a second, so a line appended just now may not log in yet."""
        if not self._pool:
            self._fill_pool(wait=True)
        return MailUser(self, self._pool.pop(), PASSWORD)

    def _fill_pool(self, *, wait: bool) -> None:
        token = uuid.uuid4().hex[:6]
        logins = [f"user{next(_user_numbers)}-{token}@imap.test" for _ in range(POOL_SIZE)]
        with self.passwd_file.open("a") as passwd:
            passwd.writelines(f"{login}:{{PLAIN}}{PASSWORD}\n" for login in logins)
        if wait:
            time.sleep(1.1)
        self._pool = list(reversed(logins))

    def client(self, login: str, password: str, *, mua: bool = False) -> IMAPClient:
        """A logged-in client on the port the app uses (through the proxy, if any); ``mua``:
        on Dovecot itself when the proxy is only there for faults."""
        port = self.dovecot_port if mua and self.spec.proxy else self.port
        client = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=30)
        client.login(login, password)
        return client

    def maildir(self, user: MailUser) -> Path:
        return self.root / "mail" / user.login / "Maildir"

    def fill(self, user: MailUser, folder: str, messages: Iterable[bytes]) -> int:
        """Bulk fill a folder with read messages: maildir files written directly, or on a dbox
        store MULTIAPPENDs of ``APPEND_BATCH`` (dbox files are not meant to be written by
        hand). Returns how many."""
        if self.store == "maildir":
            return self.write_maildir(user, folder, messages)
        count = 0
        with user.mua_client() as client:
            iterator = iter(messages)
            while batch := list(itertools.islice(iterator, APPEND_BATCH)):
                client.multiappend(folder, [{"msg": raw, "flags": [b"\\Seen"]} for raw in batch])
                count += len(batch)
        return count

    def write_maildir(self, user: MailUser, folder: str, messages: Iterable[bytes]) -> int:
        """Drop messages straight into a maildir folder: fast bulk fill for benchmarks.

        Dovecot picks the files up (and assigns UIDs) at the next SELECT of the folder.
        """
        assert self.store == "maildir", "write_maildir needs the maildir store (see fill)"
        base = self.maildir(user)
        if folder != "INBOX":
            name = folder.removeprefix(self.spec.prefix).replace(self.spec.separator, ".")
            base = base / f".{name}"
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        count = 0
        stamp = int(time.time())
        for count, raw in enumerate(messages, start=1):
            name = f"{stamp}.M{count}P{os.getpid()}.si-bench,S={len(raw)}:2,S"
            (base / "cur" / name).write_bytes(raw)
        self._chown(self.maildir(user).parent)
        return count

    # --- internals -------------------------------------------------------------------------
    def _listening(self, port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.2)
            return probe.connect_ex(("127.0.0.1", port)) == 0

    def _make_certificate(self) -> None:
        from tests.fakes.tls import suite_ca

        ca = suite_ca().ca
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = self.root / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert.private_key_pem.write_to_path(str(self.root / "key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(self.root / "cert.pem"))
        (self.root / "key.pem").chmod(0o600)

    def _mail_location(self) -> str:
        if self.store == "maildir":
            return f"maildir:{self.root}/mail/%u/Maildir"
        return f"{self.store}:{self.root}/mail/%u/{self.store}"

    def _config(self) -> str:
        user = self.run_as
        spec = self.spec
        prefix = spec.prefix

        def mailbox(role: str, flag: str) -> str:
            special = f"    special_use = {flag}\n" if spec.special_use else ""
            name = self.folders[role].removeprefix(prefix)
            return f'  mailbox "{name}" {{\n{special}    auto = subscribe\n  }}\n'

        tls = (
            f"ssl = yes\nssl_cert = <{self.root}/cert.pem\nssl_key = <{self.root}/key.pem\n"
            if spec.tls
            else "ssl = no\n"
        )
        imaps = f"    port = {self.tls_port}\n    address = 127.0.0.1\n" if spec.tls else "    port = 0\n"
        capability = f"imap_capability = {spec.capability}\n" if spec.capability else ""
        mailboxes = mailbox("archive", "\\Archive") + mailbox("trash", "\\Trash") + mailbox("sent", "\\Sent")
        gmail = ""
        if spec.gmail:
            mailboxes = ""
            capability = "mail_plugins = $mail_plugins virtual\n"
            virtual = "".join(
                f'  mailbox "{name}" {{\n    special_use = {flag}\n    auto = subscribe\n  }}\n'
                for name, (flag, _) in GMAIL_LAYOUT.items()
            )
            store = "".join(
                f"  mailbox {name} {{\n    auto = create\n  }}\n"
                for name in ("Archived", "Sent", "Trash", "Spam")
            )
            gmail = f"""namespace store {{
  prefix = .store/
  separator = /
  location = maildir:{self.root}/mail/%u/Store
  hidden = yes
  list = no
  subscriptions = no
{store}}}
namespace gmail {{
  prefix = [Gmail]/
  separator = /
  location = virtual:{self.root}/virtual:INDEX={self.root}/mail/%u/virtual-index
  subscriptions = no
{virtual}}}
"""
        return f"""# Written by tests/imap/dovecot.py ({self.variant})
instance_name = si-dovecot-{self.variant}-{self.port}
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{tls}disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user.pw_name}
default_internal_group = {user.pw_name}
default_login_user = {user.pw_name}
first_valid_uid = {user.pw_uid}
last_valid_uid = 0
first_valid_gid = {user.pw_gid}
mail_location = {self._mail_location()}
mail_fsync = never
{capability}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd_file}
}}
userdb {{
  driver = static
  args = uid={user.pw_uid} gid={user.pw_gid} home={self.root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.dovecot_port}
  }}
  inet_listener imaps {{
{imaps}  }}
}}
service anvil {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  prefix = {prefix}
  separator = {spec.separator}
{mailboxes}}}
{gmail}"""


def make_message(
    *,
    subject: str = "Pricing question",
    sender: str = "customer@client.test",
    to: str = "rep@imap.test",
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    date: datetime | None = None,
    body: str = "Hello, what does it cost?",
    extra_headers: str = "",
) -> tuple[str, bytes]:
    """A small RFC 5322 message and its Message-ID."""
    message_id = message_id or f"<{uuid.uuid4().hex}@client.test>"
    date = date or datetime.now().astimezone() - timedelta(minutes=5)
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {email.utils.format_datetime(date)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: {in_reply_to}")
    if references:
        headers.append(f"References: {references}")
    raw = "\r\n".join(headers) + "\r\n" + extra_headers + "\r\n" + body.replace("\n", "\r\n") + "\r\n"
    return message_id, raw.encode("utf-8")
