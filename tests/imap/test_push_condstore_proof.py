"""The push's Message-ID check, and when CONDSTORE proves it unneeded (issue 21).

Before moving, the push confirms each UID still carries the expected Message-ID (safety rule
2). When the folder's UIDVALIDITY, UIDNEXT, EXISTS and HIGHESTMODSEQ are exactly what the
last pull saw, nothing was added, removed or re-flagged since: the UIDs that pull left
references to are proven, and the per-UID header fetch is skipped. Any change since — a
flag, an expunge, a new message — and every UID is checked as before.
"""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import ChangeStatus, Conversation, ProviderChange
from sync.providers.imap import push as imap_push
from tests.imap.conftest import ImapSetup

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


@pytest.fixture
def checked_uids(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every UID the push asks the server about (Message-ID and flags)."""
    asked: list[int] = []
    original = imap_push.fetch_live_messages

    def spy(client, uids):  # type: ignore[no-untyped-def]
        asked.extend(uids)
        return original(client, uids)

    monkeypatch.setattr(imap_push, "fetch_live_messages", spy)
    return asked


def _archive_all(imap: ImapSetup) -> list[ProviderChange]:
    imap.switches(archive=True)
    ids = list(Conversation.objects.filter(account=imap.account).values_list("pk", flat=True))
    return services.archive_conversations(imap.actor, ids).changes


def test_archive_from_a_folder_unchanged_since_the_pull_moves_without_fetching_message_ids(
    imap: ImapSetup, checked_uids: list[int]
):
    sent = [imap.deliver(subject=f"Quote {n}", sender=f"dana{n}@client.test") for n in range(3)]
    imap.pull()
    changes = _archive_all(imap)

    imap.push()

    assert checked_uids == []
    assert all(ProviderChange.objects.get(pk=c.pk).status == ChangeStatus.DONE for c in changes)
    assert imap.placement(sent) == {mid: "archive" for mid in sent}


def test_a_message_flagged_deleted_since_the_pull_is_checked_and_not_moved(
    imap: ImapSetup, checked_uids: list[int]
):
    """Another client flagged one \\Deleted after the pull: HIGHESTMODSEQ moved on, so no
    proof — every UID is checked, and the flagged one (no live copy) is left alone."""
    kept = imap.deliver(subject="Keep", sender="erin@client.test")
    flagged = imap.deliver(subject="Flagged elsewhere", sender="frank@client.test")
    imap.pull()
    changes = _archive_all(imap)
    client = imap.mua()
    client.select_folder(imap.folder("inbox"))
    client.add_flags([imap.uid_of(client, flagged, "inbox")], [b"\\Deleted"])

    imap.push()

    assert len(checked_uids) >= 2  # both UIDs asked about: nothing taken on trust
    assert imap.ids("archive") == [kept]
    client.select_folder(imap.folder("inbox"))
    assert client.search(["DELETED"])  # the flagged message is where the other client left it
    assert {ProviderChange.objects.get(pk=c.pk).status for c in changes} <= {
        ChangeStatus.DONE,
        ChangeStatus.FAILED,
    }


def test_a_new_message_since_the_pull_means_no_proof(imap: ImapSetup, checked_uids: list[int]):
    first = imap.deliver(subject="Before", sender="gina@client.test")
    imap.pull()
    changes = _archive_all(imap)
    imap.deliver(subject="After the pull", sender="hal@client.test")  # UIDNEXT moved on

    imap.push()

    assert checked_uids  # checked by Message-ID as before
    assert imap.ids("archive") == [first]
    assert all(ProviderChange.objects.get(pk=c.pk).status == ChangeStatus.DONE for c in changes)
