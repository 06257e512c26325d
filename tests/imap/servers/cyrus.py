"""(e) A second real IMAP server: Cyrus IMAP 3.x from Debian (``cyrus-imapd``), started by the
suite like Dovecot — its own ``master`` on a free loopback port, everything (config, spool,
SASL password database) in a temporary folder.

Debian's cyrus-imapd package conflicts with dovecot-imapd (both provide ``imap-server``), so
scripts/ensure-test-services.sh installs cyrus-common (master) and unpacks the imapd binary of
the same version into /opt/cyrus-imapd.

Why Cyrus and not Courier: Courier's imapd authenticates through courier-authlib's
``authdaemond`` on a socket path compiled into the library (/run/courier/authdaemon), so a
second, unprivileged instance with its own users cannot run beside the system one. Cyrus reads
everything from the config files given on its command line, authenticates with SASL against a
``sasldb`` file of ours, creates a user's INBOX and folders at first login (``autocreate_*``),
and runs as any user (``cyrus_user``; the package's ``cyrus`` user when the suite runs as root).

The layout is Cyrus's classic one, as on many hosted servers: personal namespace "INBOX." with
separator ".", folders INBOX.Sent / INBOX.Archive / INBOX.Trash carrying special-use flags
(Cyrus spells them in lower case: ``\\archive``). Cyrus advertises MOVE, UIDPLUS, CONDSTORE,
QRESYNC, SPECIAL-USE — and, another of its quirks, ``LOGINDISABLED`` after login.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

from imapclient import IMAPClient

from tests.imap.dovecot import PASSWORD, MailUser, Variant
from tests.imap.servers.local_server import LocalServer, server_user
from tests.ports import free_port

CYRUS_BIN = Path("/usr/lib/cyrus/bin")  # cyrus-common: master, ctl_cyrusdb
MASTER = CYRUS_BIN / "master"
# cyrus-imapd conflicts with dovecot-imapd in Debian, so scripts/ensure-test-services.sh
# unpacks its imapd into /opt/cyrus-imapd instead of installing it.
IMAPD = next(
    (
        path
        for path in (Path("/opt/cyrus-imapd/usr/lib/cyrus/bin/imapd"), CYRUS_BIN / "imapd")
        if path.exists()
    ),
    Path("/opt/cyrus-imapd/usr/lib/cyrus/bin/imapd"),
)
SASLPASSWD = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
DOMAIN = "imap.test"
SPEC = Variant(
    {"sent": "INBOX.Sent", "archive": "INBOX.Archive", "trash": "INBOX.Trash"},
    prefix="INBOX.",
    separator=".",
)

_numbers = itertools.count(1)


def available() -> bool:
    return MASTER.exists() and IMAPD.exists() and os.path.exists(SASLPASSWD)


class Cyrus(LocalServer):
    """The same surface as tests/imap/dovecot.Dovecot for what the IMAP tests use."""

    server_name = "Cyrus"
    log_files = ("master.log",)

    variant = "cyrus"
    spec = SPEC
    proxy = None
    tls_port = 0

    def __init__(self, *, root: Path | None = None) -> None:
        self.folders = SPEC.folders
        self.root = Path(root or tempfile.mkdtemp(prefix="si-cyrus-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.dovecot_port = 0
        self.run_as = server_user("cyrus")

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 30, attempts: int = 5) -> Cyrus:
        for sub in ("conf", "spool", "sieve", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._start_on_a_free_port(timeout, attempts)
        return self

    def _start_once(self, timeout: float) -> bool:
        self.port = free_port()
        (self.root / "imapd.conf").write_text(self._imapd_conf())
        (self.root / "cyrus.conf").write_text(self._cyrus_conf())
        self._chown(self.root)
        log = (self.root / "master.log").open("ab")
        self.process = subprocess.Popen(
            # -p: the default pid file (/run/cyrus-master.pid) is the system instance's;
            # -D: keep stdout/stderr for the log. Without -d it stays in the foreground.
            [
                str(MASTER),
                "-C",
                str(self.root / "imapd.conf"),
                "-M",
                str(self.root / "cyrus.conf"),
                "-p",
                str(self.root / "run" / "master.pid"),
                "-D",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CYRUS_USER": self.run_as.pw_name},
            user=self.run_as.pw_uid,
            group=self.run_as.pw_gid,
            extra_groups=[],
        )
        return self._came_up(self._greets, timeout)

    def _greets(self) -> bool:
        """Listening and answering as Cyrus — and still ours: a master whose port was taken
        by another session in the meantime logs the failed bind and exits."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as probe:
                greeting = probe.recv(4096)
        except OSError:
            return False
        return b"Cyrus IMAP" in greeting and self._still_ours()

    # --- users and clients ---------------------------------------------------------------------
    def add_user(self, prefix: str = "rep") -> MailUser:
        """A fresh mailbox: a sasldb entry; Cyrus creates INBOX and its folders at first login."""
        local = f"user{next(_numbers)}-{uuid.uuid4().hex[:6]}"
        subprocess.run(
            [SASLPASSWD, "-p", "-c", "-f", str(self.root / "sasldb2"), "-u", DOMAIN, local],
            input=PASSWORD.encode(),
            check=True,
            user=self.run_as.pw_uid,
            group=self.run_as.pw_gid,
            extra_groups=[],
        )
        return MailUser(self, f"{local}@{DOMAIN}", PASSWORD)  # type: ignore[arg-type]

    def client(self, login: str, password: str, *, mua: bool = False) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(login, password)
        return client

    # --- internals --------------------------------------------------------------------------------
    def _imapd_conf(self) -> str:
        root = self.root
        return f"""# Written by tests/imap/servers/cyrus.py
configdirectory: {root}/conf
partition-default: {root}/spool
defaultpartition: default
sievedir: {root}/sieve
mboxname_lockpath: {root}/run/lock
proc_path: {root}/run/proc
cyrus_user: {self.run_as.pw_name}
servername: {DOMAIN}
syslog_prefix: si-cyrus-{self.port}
altnamespace: 0
unixhierarchysep: 0
virtdomains: userid
defaultdomain: {DOMAIN}
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {root}/sasldb2
sasl_mech_list: PLAIN LOGIN
autocreate_quota: 0
autocreate_inbox_folders: Sent | Archive | Trash
autocreate_subscribe_folders: Sent | Archive | Trash
xlist-sent: Sent
xlist-archive: Archive
xlist-trash: Trash
"""

    def _cyrus_conf(self) -> str:
        conf = self.root / "imapd.conf"
        return f"""# Written by tests/imap/servers/cyrus.py
START {{
  recover cmd="ctl_cyrusdb -r -C {conf}"
}}
SERVICES {{
  imap cmd="{IMAPD} -C {conf}" listen="127.0.0.1:{self.port}" prefork=0
}}
EVENTS {{
}}
DAEMON {{
}}
"""
