"""The matrix servers behave as they claim (tests/imap/servers/): otherwise every matrix test
would prove less than it says."""

from __future__ import annotations

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from tests.imap.dovecot import Dovecot, make_message
from tests.imap.live_copies import assert_one_live_copy, live_copies

pytestmark = [pytest.mark.dovecot]


def test_the_nomove_server_neither_advertises_nor_accepts_move_or_uidplus(dovecot_nomove: Dovecot):
    user = dovecot_nomove.add_user()
    with user.client() as client:
        capabilities = set(client.capabilities())
        assert b"MOVE" not in capabilities and b"UIDPLUS" not in capabilities
        assert b"IMAP4REV1" in capabilities
        message_id, raw = make_message()
        answer = client.append("INBOX", raw)
        assert b"APPENDUID" not in answer
        client.select_folder("INBOX")
        uid = client.search(["HEADER", "Message-ID", message_id])[0]
        copied = client._imap.uid("COPY", str(uid), "Archive")
        assert copied[0] == "OK" and b"COPYUID" not in b" ".join(x for x in copied[1] if x)
        with pytest.raises(IMAPClientError):
            client._imap.uid("MOVE", str(uid), "Trash")  # what imapclient's move() sends
        with pytest.raises(IMAPClientError):
            client.uid_expunge([uid])
        # The refused MOVE did nothing: the message is in INBOX and its copy in Archive.
        assert live_copies(client) == {message_id: {"INBOX": 1, "Archive": 1}}


def test_the_localized_server_has_a_prefix_a_dot_separator_and_no_special_use(dovecot_localized: Dovecot):
    user = dovecot_localized.add_user()
    with user.client() as client:
        assert b"SPECIAL-USE" not in client.capabilities()
        personal = client.namespace().personal
        assert personal[0] == ("INBOX.", ".")
        listed = {name: flags for flags, _, name in client.list_folders()}
        assert set(listed) >= {
            "INBOX",
            "INBOX.Archiv",
            "INBOX.Gesendete Elemente",
            "INBOX.Gelöschte Elemente",
        }
        assert not any(
            flag
            for name, flags in listed.items()
            for flag in flags
            if flag.lower() in {b"\\archive", b"\\trash", b"\\sent", b"\\all"}
        )


def test_live_copies_ignores_deleted_leftovers_and_finds_duplicates(dovecot: Dovecot):
    user = dovecot.add_user()
    with user.client() as client:
        once, raw_once = make_message()
        twice, raw_twice = make_message()
        client.append("INBOX", raw_once)
        client.append("Archive", raw_once, flags=[b"\\Deleted"])  # a leftover: not a copy
        client.append("INBOX", raw_twice)
        client.append("Trash", raw_twice)
        assert live_copies(client) == {once: {"INBOX": 1}, twice: {"INBOX": 1, "Trash": 1}}
        with pytest.raises(AssertionError, match="duplicated"):
            assert_one_live_copy(client)
        client.select_folder("Trash")
        client.delete_messages(client.search(["HEADER", "Message-ID", twice]))
        assert assert_one_live_copy(client, [once, twice]) == {once: "INBOX", twice: "INBOX"}
        gone, _ = make_message()
        with pytest.raises(AssertionError, match="no live copy"):
            assert_one_live_copy(client, [gone])


def _fetch(client: IMAPClient, uids: list[int]) -> dict[int, dict[bytes, object]]:
    return client.fetch(uids, ["BODY.PEEK[]"])


def test_the_fault_proxy_refuses_and_omits_fetches_of_one_uid(dovecot_faulty: Dovecot):
    proxy = dovecot_faulty.proxy
    assert proxy is not None
    user = dovecot_faulty.add_user()
    with user.client() as client:
        for _ in range(3):
            client.append("INBOX", make_message()[1])
        client.select_folder("INBOX")
        uids = client.search("ALL")
        refused = proxy.fail_fetch(uids[1], folder="INBOX")
        with pytest.raises(IMAPClientError, match="could not be FETCHed"):
            _fetch(client, uids)
        assert set(_fetch(client, [uids[0], uids[2]])) == {uids[0], uids[2]}
        assert client.fetch(uids, ["FLAGS"]).keys() == set(uids)  # only content is refused
        refused.off()
        omitted = proxy.omit_fetch(uids[1], folder="INBOX", times=1)
        assert set(_fetch(client, uids)) == {uids[0], uids[2]}
        assert set(_fetch(client, uids)) == set(uids) and omitted.hits == 1


def test_the_fault_proxy_refuses_login_charset_hides_folders_and_empties_header_searches(
    dovecot_faulty: Dovecot,
):
    proxy = dovecot_faulty.proxy
    assert proxy is not None
    user = dovecot_faulty.add_user()
    login = proxy.refuse_login("UNAVAILABLE", times=1)
    with pytest.raises(IMAPClientError, match="UNAVAILABLE"):
        user.client()
    assert login.hits == 1
    with user.client() as client:
        message_id, raw = make_message(subject="Grüße")
        client.append("INBOX", raw)
        client.select_folder("INBOX")
        proxy.refuse_charset()
        with pytest.raises(IMAPClientError, match="BADCHARSET"):
            client.search(["SUBJECT", "Grüße"], charset="UTF-8")
        assert len(client.search(["HEADER", "Message-ID", message_id])) == 1
        proxy.empty_header_search()
        assert client.search(["HEADER", "Message-ID", message_id]) == []
        assert len(client.search(["HEADER", "Message-ID", message_id])) == 1

        hidden = proxy.hide_folder("Archive")
        assert "Archive" not in [name for _, _, name in client.list_folders()]
        assert "Archive" not in [name for _, _, name in client.list_folders()]
        hidden.off()
        assert "Archive" in [name for _, _, name in client.list_folders()]


def test_cyrus_is_a_real_second_server_with_the_classic_layout(cyrus: Dovecot):
    user = cyrus.add_user()
    with user.client() as client:
        assert client.welcome and b"Cyrus" in client.welcome
        assert client.namespace().personal[0] == ("INBOX.", ".")
        listed = {name: {f.lower() for f in flags} for flags, _, name in client.list_folders()}
        assert b"\\archive" in listed["INBOX.Archive"] and b"\\trash" in listed["INBOX.Trash"]
        assert b"\\sent" in listed["INBOX.Sent"]
        message_id, raw = make_message()
        client.append("INBOX", raw)
        assert live_copies(client) == {message_id: {"INBOX": 1}}
    other = cyrus.add_user()
    with other.client() as client:
        assert live_copies(client) == {}  # a fresh mailbox per user


def test_the_gmail_style_server_archives_by_leaving_the_inbox_while_staying_in_all_mail(
    dovecot_gmail: Dovecot,
):
    user = dovecot_gmail.add_user()
    with user.client() as client:
        listed = {name: {f.lower() for f in flags} for flags, _, name in client.list_folders()}
        assert b"\\all" in listed["[Gmail]/All Mail"] and b"\\trash" in listed["[Gmail]/Trash"]
        assert b"\\sent" in listed["[Gmail]/Sent Mail"]
        assert not any(b"\\archive" in flags for flags in listed.values())
        assert not any(name.startswith(".store") for name in listed)  # the real folders are hidden
        assert b"X-GM-EXT-1" not in client.capabilities()

        question, raw = make_message()
        reply, raw_reply = make_message()
        client.append("INBOX", raw)
        client.append("[Gmail]/Sent Mail", raw_reply)
        assert live_copies(client) == {
            question: {"INBOX": 1, "[Gmail]/All Mail": 1},
            reply: {"[Gmail]/Sent Mail": 1, "[Gmail]/All Mail": 1},
        }
        assert assert_one_live_copy(client) == {question: "INBOX", reply: "[Gmail]/Sent Mail"}

        client.select_folder("INBOX")
        client.move(client.search(["HEADER", "Message-ID", question]), "[Gmail]/All Mail")  # archive
        assert live_copies(client)[question] == {"[Gmail]/All Mail": 1}
        assert assert_one_live_copy(client)[question] == "[Gmail]/All Mail"

        client.select_folder("[Gmail]/All Mail")
        client.copy(client.search(["HEADER", "Message-ID", question]), "INBOX")  # a copy, not a label
        with pytest.raises(AssertionError, match="duplicated"):
            assert_one_live_copy(client)

        client.select_folder("[Gmail]/All Mail")
        archived = client.search(["HEADER", "Message-ID", question])
        client.move(archived[:1], "[Gmail]/Trash")
        assert live_copies(client)[question] == {"INBOX": 1, "[Gmail]/All Mail": 1, "[Gmail]/Trash": 1}


def test_cyrus_tests_skip_without_cyrus_on_a_workstation_but_fail_in_ci(monkeypatch: pytest.MonkeyPatch):
    import tests.plugins.servers as servers

    monkeypatch.setattr(servers, "cyrus_available", lambda: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="ensure-test-services"):
        servers.require_cyrus()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        servers.require_cyrus()
