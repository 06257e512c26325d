"""The IMAP server matrix of the suite (issue 14). How to use each variant:

Every server starts once per test session on its own free loopback ports, unprivileged; every
test gets a fresh mailbox (``server.add_user()``, or ``make_setup(server, "personal"|"team",
acme=…, alice=…, bob=…)`` from tests/imap/conftest.py for an app account on it). A variant's
folder names come from ``mail_user.folder("inbox"|"sent"|"archive"|"trash")`` /
``setup.folder(role)``; ``server.port`` is the port the app connects to.

Fixtures (tests/imap/conftest.py):

* ``dovecot`` — (a) Dovecot with everything: MOVE, UIDPLUS, CONDSTORE/QRESYNC, SPECIAL-USE,
  STARTTLS and implicit TLS (``tls_port``, ``ca_file``).
* ``dovecot_fallback`` — unusual folder names without special-use flags, no MOVE, CONDSTORE,
  QRESYNC (UIDPLUS still there).
* ``dovecot_nomove`` — (b) neither MOVE nor UIDPLUS. A FaultProxy (``server.proxy``) in front
  of Dovecot removes them from every CAPABILITY answer, answers ``MOVE``/``UID MOVE``/``UID
  EXPUNGE`` with ``BAD`` and strips ``[COPYUID]``/``[APPENDUID]`` codes — imapclient's
  ``move()`` and ``uid_expunge()`` fail there, as on a server without them.
  ``server.dovecot_port`` is Dovecot itself (everything advertised) if a test needs it.
* ``dovecot_localized`` — (c) no SPECIAL-USE, personal namespace prefix "INBOX." with separator
  ".", folders "INBOX.Gesendete Elemente", "INBOX.Archiv", "INBOX.Gelöschte Elemente".
* ``dovecot_gmail`` — (d) Gmail-style: built as the comment above VARIANTS in
  tests/imap/dovecot.py says; with X-GM-EXT-1 (ids only), a FaultProxy with ``gmail_ids()``
  in front (tests/imap/test_unplaced_gmail_ids.py).
* ``cyrus`` — (e) see tests/imap/servers/cyrus.py.
* ``dovecot_faulty`` — (f) the standard Dovecot behind a FaultProxy; switch faults on with
  ``dovecot_faulty.proxy.fail_fetch(uid, folder="INBOX")``, ``.omit_fetch(…)``,
  ``.refuse_login("UNAVAILABLE")``, ``.refuse_charset()``, ``.hide_folder("Archive")``,
  ``.empty_header_search()`` (each returns a Fault: ``.off()``, ``.hits``; ``times=n`` for
  one-shot faults). All faults are cleared after each test. See tests/imap/servers/proxy.py.
  The faults are for the app only: the user's other mail client (``setup.mua()``,
  ``setup.client()``, ``mail_user.mua_client()``) talks to Dovecot directly, while
  ``mail_user.client()`` goes through the proxy (to see a fault from the test itself).

Conftest helpers that matter on these servers: ``setup.move()`` / ``setup.expunge()`` act as
another mail client (plain ``EXPUNGE`` when UIDPLUS is missing, which also removes any
``\\Deleted`` leftovers of the folder); ``setup.expunge_all()`` EXPUNGEs every folder;
``setup.ids(folder)`` lists live (not ``\\Deleted``) messages.

After every push step, check the server with tests/imap/live_copies.py:
``assert_one_live_copy(setup.mua(), [message_ids…])`` → {Message-ID: folder}.
"""
