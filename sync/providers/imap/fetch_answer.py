"""Reading a FETCH answer of the shapes a sync asks for most, faster than imapclient does it.

A first sync reads two FETCH answers per message: its size, flags and arrival date, then its
whole body. imapclient's ``parse_fetch_response`` reads any answer a server may give, one
byte at a time in Python: about 47 µs a message for these two (10,000 messages: 0.47 s of
the pull's own thread, which it shares with the store thread). Most answers are one plain
shape — ``n (UID u RFC822.SIZE s FLAGS (...) INTERNALDATE "...")`` and
``n (UID u BODY[] {size}`` + the literal + ``)`` — which ``parse_fetch_answer`` reads with a
few regular expressions into exactly what imapclient returns. Anything else in an answer —
another item, a quoted body, a flag with unusual characters, an unsolicited FETCH without a
UID, lower case — and the whole answer goes to imapclient's parser instead, so the result
never differs (``tests/imap/test_fetch_answer.py`` compares the two on every shape).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.datetime_util import datetime_to_native, parse_to_datetime
from imapclient.exceptions import IMAPClientError
from imapclient.fixed_offset import FixedOffset
from imapclient.imapclient import join_message_ids, seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response

Answer = dict[int, dict[bytes, Any]]

_PLAIN = re.compile(rb"(\d+) \((.*)\)\Z", re.S)
_WITH_BODY = re.compile(rb"(\d+) \((.*?) ?BODY\[\] \{(\d+)\}\Z", re.S)
# One item and the space after it (or the end): the numbers, the flags (system flags and
# keywords of the usual characters only) and the arrival date (a quoted string, no escapes).
_ITEM = re.compile(
    rb"(UID|RFC822\.SIZE|X-GM-MSGID) (\d+)(?: |\Z)"
    rb"|FLAGS \(((?:[\\$]?[A-Za-z0-9_.\-]+(?: [\\$]?[A-Za-z0-9_.\-]+)*)?)\)(?: |\Z)"
    rb'|INTERNALDATE "([^"\\]*)"(?: |\Z)'
)
# RFC 3501's date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (the day may start with a space).
_DATE = re.compile(rb"([ \d]\d)-([A-Z][a-z]{2})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\Z")
_MONTH_NAMES = b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}


def fetch(client: IMAPClient, uids: Sequence[int], items: Sequence[str]) -> Answer:
    """``client.fetch(uids, items)``: the same command, errors and result, the answer read
    by ``parse_fetch_answer``."""
    if not uids:
        return {}
    return finish(client, client._imap._command(*_command(client, uids, items)), uids)


def send(client: IMAPClient, uids: Sequence[int], items: Sequence[str]) -> bytes | None:
    """Send ``UID FETCH uids (items)`` and return its tag, without reading the answer: the
    server prepares and sends it while the caller does other work (anything but another
    command on this connection); ``finish`` reads it. None when it could not be sent (the
    caller then fetches the usual way, which reconnects if the server hung up)."""
    if not uids or not client.use_uid:
        return None
    try:
        tag: bytes = client._imap._command(*_command(client, uids, items))
        return tag
    except (IMAPClientError, OSError):
        return None


def _command(client: IMAPClient, uids: Sequence[int], items: Sequence[str]) -> list[str]:
    """The arguments of the FETCH command ``client.fetch`` sends."""
    args = ["FETCH", join_message_ids(uids), seq_to_parenstr_upper(items)]
    if client.use_uid:
        args.insert(0, "UID")
    return args


def finish(client: IMAPClient, tag: bytes, uids: Sequence[int]) -> Answer:
    """Read the answer of the FETCH sent with ``tag``, as ``client.fetch`` would return it
    (and with its errors: ``IMAPClientError`` for a NO, ``IMAPClientAbortError`` for a
    hang-up): the messages asked for only, unsolicited answers about others dropped."""
    typ, data = client._imap._command_complete("FETCH", tag)
    client._checkok("fetch", typ, data)
    typ, data = client._imap._untagged_response(typ, data, "FETCH")
    answer = parse_fetch_answer(data, client.normalise_times, client.use_uid)
    return {uid: answer[uid] for uid in uids if uid in answer}


def parse_fetch_answer(data: list[Any], normalise_times: bool = True, uid_is_key: bool = True) -> Answer:
    """``parse_fetch_response(data, normalise_times, uid_is_key)``'s result."""
    if uid_is_key and data != [None]:
        plain = _plain_answer(data, normalise_times)
        if plain is not None:
            return plain
    return parse_fetch_response(data, normalise_times, uid_is_key)


def _plain_answer(data: list[Any], normalise: bool) -> Answer | None:
    """The answer when every response in it has one of the plain shapes, else None."""
    answer: defaultdict[int, dict[bytes, Any]] = defaultdict(dict)
    index, count = 0, len(data)
    while index < count:
        response = data[index]
        if isinstance(response, tuple):
            # "n (... BODY[] {size}" with the literal, then ")" on its own.
            if len(response) != 2 or index + 1 >= count or data[index + 1] != b")":
                return None
            head, literal = response
            match = _WITH_BODY.match(head) if isinstance(head, bytes) else None
            if match is None or not isinstance(literal, bytes) or int(match.group(3)) != len(literal):
                return None
            fields: dict[bytes, Any] = {b"SEQ": int(match.group(1))}
            if not _read_items(match.group(2), fields, normalise):
                return None
            fields[b"BODY[]"] = literal
            index += 2
        else:
            match = _PLAIN.match(response) if isinstance(response, bytes) else None
            if match is None:
                return None
            fields = {b"SEQ": int(match.group(1))}
            if not _read_items(match.group(2), fields, normalise):
                return None
            index += 1
        uid = fields.pop(b"UID", None)
        if uid is None:  # imapclient keys it by its sequence number: its parser's case
            return None
        answer[uid].update(fields)
    return answer


def _read_items(text: bytes, fields: dict[bytes, Any], normalise: bool) -> bool:
    position, end = 0, len(text)
    while position < end:
        match = _ITEM.match(text, position)
        if match is None:
            return False
        name, number, flags, date = match.groups()
        if name is not None:
            fields[name] = int(number)
        elif flags is not None:
            fields[b"FLAGS"] = tuple(flags.split())
        else:
            fields[b"INTERNALDATE"] = _internal_date(date, normalise)
        position = match.end()
    return True


def _internal_date(text: bytes, normalise: bool) -> datetime | None:
    """imapclient's value for an INTERNALDATE: ``parse_to_datetime``, None when unreadable."""
    match = _DATE.match(text)
    month = _MONTHS.get(match.group(2)) if match is not None else None
    if match is None or month is None:
        try:
            return parse_to_datetime(text, normalise=normalise)
        except ValueError:
            return None
    day, _month, year, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
    offset = int(zone_hours) * 60 + int(zone_minutes)
    if sign == b"-" and not offset:  # "-0000": no zone known (RFC 2822), a naive time there
        return parse_to_datetime(text, normalise=normalise)
    try:
        value = datetime(
            int(year),
            month,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=FixedOffset(-offset if sign == b"-" else offset),
        )
    except ValueError:  # 31-Feb: what parse_to_datetime makes of it
        try:
            return parse_to_datetime(text, normalise=normalise)
        except ValueError:
            return None
    return datetime_to_native(value) if normalise else value
