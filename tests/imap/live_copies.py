"""Where each message lives at the server: the shared check after every push step.

ARCHITECTURE/issue 14: after each push step, each message has exactly one *live* copy
across all folders. "Live" means not flagged ``\\Deleted``: a leftover that is flagged but not
yet expunged disappears at the next EXPUNGE by any client, so it never counts as a copy.

    from tests.imap.live_copies import assert_one_live_copy, live_copies

    setup.push()
    where = assert_one_live_copy(setup.mua(), [question, reply])  # {message_id: folder}
    assert where[question] == setup.folder("archive")

Every selectable folder LIST shows is searched ``UNDELETED`` (plus other personal/shared
namespaces from NAMESPACE). On a Gmail-style server (a folder flagged ``\\All``) All Mail is a
view of the other folders, not a copy of its own: a message counts once for each copy in a
real folder, and All Mail only adds the copies no real folder accounts for (an archived
message lives in All Mail alone; a message still in INBOX is also in All Mail, once).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from imapclient import IMAPClient

from sync.providers.imap.client import fetch_message_ids

NOT_SELECTABLE = {b"\\noselect", b"\\nonexistent"}


def _folders(client: IMAPClient) -> list[tuple[str, set[bytes]]]:
    listed: dict[str, set[bytes]] = {}
    patterns = [""]
    if client.has_capability("NAMESPACE"):
        namespaces = client.namespace()
        for group in (namespaces.other, namespaces.shared):
            patterns += [prefix for prefix, _ in group or ()]
    for prefix in patterns:
        for flags, _, name in client.list_folders(prefix):
            listed[name] = {flag.lower() for flag in flags}
    return [(name, flags) for name, flags in listed.items() if not flags & NOT_SELECTABLE]


def live_copies(client: IMAPClient) -> dict[str, dict[str, int]]:
    """{Message-ID: {folder: number of live copies}} over every selectable folder."""
    found: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, _ in _folders(client):
        client.select_folder(name, readonly=True)
        uids = client.search("UNDELETED")
        if not uids:
            continue
        for message_id in fetch_message_ids(client, uids).values():
            found[message_id][name] += 1
    return {mid: dict(folders) for mid, folders in found.items()}


def _all_mail(client: IMAPClient) -> tuple[str | None, set[str]]:
    """The ``\\All`` folder, if any, and the folders All Mail does not show (Trash, Junk)."""
    all_mail, outside = None, set()
    for name, flags in _folders(client):
        if b"\\all" in flags:
            all_mail = name
        elif flags & {b"\\trash", b"\\junk"}:
            outside.add(name)
    return all_mail, outside


def copy_count(folders: dict[str, int], all_mail: str | None, outside: set[str]) -> int:
    """How many copies of one message the folder counts amount to (see the module docstring)."""
    if all_mail is None:
        return sum(folders.values())
    real = sum(n for name, n in folders.items() if name != all_mail)
    shown_in_all = sum(n for name, n in folders.items() if name not in outside and name != all_mail)
    return real + max(folders.get(all_mail, 0) - shown_in_all, 0)


def assert_one_live_copy(client: IMAPClient, expected: Iterable[str] = ()) -> dict[str, str]:
    """Every message with a live copy anywhere has exactly one, and every Message-ID in
    ``expected`` is among them. Returns {Message-ID: folder of that copy} (on a Gmail-style
    server the real folder, or All Mail for an archived message)."""
    copies = live_copies(client)
    all_mail, outside = _all_mail(client)
    wrong = {mid: folders for mid, folders in copies.items() if copy_count(folders, all_mail, outside) != 1}
    missing = [mid for mid in expected if mid not in copies]
    assert not wrong and not missing, (
        f"not exactly one live copy per message: duplicated {wrong or '-'}; no live copy of {missing or '-'}"
    )
    where: dict[str, str] = {}
    for mid, folders in copies.items():
        real = [name for name in folders if name != all_mail]
        where[mid] = real[0] if real else all_mail  # type: ignore[assignment]
    return where
