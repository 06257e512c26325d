"""imaplib's protocol trace costs a first sync most of its reading CPU (the repr of every
fetched message, twice): the app's IMAP connections leave it off unless its logger shows
DEBUG, and the messages read are the same either way."""

from __future__ import annotations

import logging

import pytest

from sync.providers.imap.client import ImapSettings, connect, disconnect
from tests.imap.dovecot import Dovecot, make_message

pytestmark = [pytest.mark.dovecot]


def _connect(user):  # type: ignore[no-untyped-def]
    return connect(ImapSettings("127.0.0.1", user.server.port, "none", user.login), user.password)


def _subjects(client) -> list[bytes]:  # type: ignore[no-untyped-def]
    client.select_folder("INBOX", readonly=True)
    answer = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"])
    return sorted(data[b"BODY[]"].split(b"Subject: ")[1].split(b"\r\n")[0] for data in answer.values())


def test_a_connection_reads_mail_without_the_protocol_trace_nobody_reads(dovecot: Dovecot):
    user = dovecot.add_user()
    dovecot.fill(user, "INBOX", [make_message(subject=f"Quote {n}")[1] for n in range(3)])
    client = _connect(user)
    try:
        assert client._imap.debug == 0
        assert _subjects(client) == [b"Quote 0", b"Quote 1", b"Quote 2"]
    finally:
        disconnect(client)


def test_the_protocol_trace_stays_on_when_its_logger_shows_debug(dovecot: Dovecot, caplog):
    user = dovecot.add_user()
    dovecot.fill(user, "INBOX", [make_message(subject="Quote 0")[1]])
    caplog.set_level(logging.DEBUG, logger="imapclient.imaplib")
    client = _connect(user)
    try:
        assert _subjects(client) == [b"Quote 0"]
    finally:
        disconnect(client)
    assert any("untagged_responses" in record.getMessage() for record in caplog.records)
