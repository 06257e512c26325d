"""A FETCH answer read by the sync's own reader is exactly what imapclient's parser makes
of it — on the plain shapes it reads itself, and on every other shape, which it hands to
imapclient."""

from __future__ import annotations

from datetime import datetime

import pytest
from imapclient.response_parser import parse_fetch_response

from sync.providers.imap import fetch_answer
from sync.providers.imap.fetch_answer import _plain_answer, parse_fetch_answer
from tests.imap.conftest import ImapSetup

BODY = b"From: bob@acme.test\r\nSubject: hi\r\n\r\nbody\r\n"

PLAIN = {
    "body": [(b"1 (UID 101 BODY[] {%d}" % len(BODY), BODY), b")"],
    "two bodies": [(b"1 (UID 101 BODY[] {4}", b"abcd"), b")", (b"2 (UID 102 BODY[] {0}", b""), b")"],
    "size flags date": [
        b'7 (UID 3 RFC822.SIZE 1234 FLAGS (\\Seen $Forwarded) INTERNALDATE "17-Jul-2026 02:44:25 -0700")'
    ],
    "no flags, a day with a space": [
        b'8 (UID 4 RFC822.SIZE 9 FLAGS () INTERNALDATE " 7-Jul-2026 23:59:59 +0530")'
    ],
    "gmail id first": [b"9 (X-GM-MSGID 1278455344230334865 UID 5 FLAGS (\\Flagged NonJunk) RFC822.SIZE 1)"],
    "utc": [b'1 (UID 6 INTERNALDATE "01-Jan-2026 00:00:00 +0000")'],
    "two answers for one uid": [b"1 (UID 7 FLAGS (\\Seen))", b"1 (UID 7 RFC822.SIZE 10)"],
}

OTHER = {
    "no uid (an unsolicited flag change)": [b"3 (FLAGS (\\Seen))", b"1 (UID 8 FLAGS ())"],
    "body before its uid": [(b"1 (BODY[] {4}", b"abcd"), b" UID 9)"],
    "quoted body": [b'1 (UID 10 BODY[] "abcd")'],
    "nil body": [b"1 (UID 11 BODY[] NIL)"],
    "lower case": [b"1 (uid 12 flags (\\seen))"],
    "modseq": [b"1 (UID 13 FLAGS () MODSEQ (12345))"],
    "a flag of other characters": [b"1 (UID 14 FLAGS (\\Seen [Gmail]x))"],
    "nil date": [b"1 (UID 15 INTERNALDATE NIL)"],
    "header section": [(b"1 (UID 16 BODY[HEADER] {4}", b"ab\r\n"), b")"],
}

DATES = {
    "no zone known": b'1 (UID 20 INTERNALDATE "17-Jul-2026 02:44:25 -0000")',
    "31 February": b'1 (UID 21 INTERNALDATE "31-Feb-2026 02:44:25 +0000")',
    "lower-case month": b'1 (UID 22 INTERNALDATE "17-jul-2026 02:44:25 +0100")',
    "leap second": b'1 (UID 23 INTERNALDATE "30-Jun-2026 23:59:60 +0000")',
    "not a date": b'1 (UID 24 INTERNALDATE "yesterday")',
}


def same(ours: dict, theirs: dict) -> None:  # type: ignore[type-arg]
    """Equal, and each date the same kind: naive alike, or the same offset."""
    assert dict(ours) == dict(theirs)
    for uid, fields in theirs.items():
        date = fields.get(b"INTERNALDATE")
        if isinstance(date, datetime):
            mine = ours[uid][b"INTERNALDATE"]
            assert (mine.tzinfo is None) == (date.tzinfo is None)
            assert mine.utcoffset() == date.utcoffset()


@pytest.mark.parametrize("normalise", [True, False])
@pytest.mark.parametrize("data", PLAIN.values(), ids=PLAIN.keys())
def test_a_plain_answer_is_read_by_the_sync_itself_into_what_imapclient_returns(data, normalise):
    assert _plain_answer(data, normalise) is not None
    same(parse_fetch_answer(data, normalise), parse_fetch_response(data, normalise, True))


@pytest.mark.parametrize("data", OTHER.values(), ids=OTHER.keys())
def test_any_other_answer_goes_to_imapclient_whole(data):
    assert _plain_answer(data, True) is None
    same(parse_fetch_answer(data), parse_fetch_response(data, True, True))


@pytest.mark.parametrize("normalise", [True, False])
@pytest.mark.parametrize("line", DATES.values(), ids=DATES.keys())
def test_an_unusual_arrival_date_reads_as_imapclient_reads_it(line, normalise):
    same(parse_fetch_answer([line], normalise), parse_fetch_response([line], normalise, True))


@pytest.mark.parametrize(
    "data",
    [[b"x (UID 1)"], [(b"1 (UID 17 BODY[] {9}", b"abcd"), b")"]],
    ids=["not a number", "a literal shorter than it said"],
)
def test_a_broken_answer_raises_imapclients_error(data):
    from imapclient.exceptions import ProtocolError

    with pytest.raises(ProtocolError):
        parse_fetch_answer(data)


@pytest.mark.django_db
@pytest.mark.dovecot
def test_dovecots_answers_to_a_first_syncs_fetches_take_the_plain_reading(imap: ImapSetup, monkeypatch):
    imap.deliver(subject="First")
    imap.deliver(subject="Second", flags=(b"\\Seen", b"$Forwarded"))
    plain = []
    original = fetch_answer._plain_answer

    def counted(data, normalise):  # type: ignore[no-untyped-def]
        answer = original(data, normalise)
        plain.append(answer is not None)
        return answer

    monkeypatch.setattr(fetch_answer, "_plain_answer", counted)
    with imap.client() as client:
        client.select_folder(imap.folder("inbox"), readonly=True)
        uids = sorted(client.search(["ALL"]))
        for items in (["RFC822.SIZE", "FLAGS", "INTERNALDATE"], ["BODY.PEEK[]"]):
            ours = fetch_answer.fetch(client, uids, items)
            assert ours == client.fetch(uids, items)
    assert plain == [True, True]
    assert set(ours) == set(uids) and all(b"Subject: " in ours[uid][b"BODY[]"] for uid in uids)
