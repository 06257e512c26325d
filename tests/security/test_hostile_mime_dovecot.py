"""The hostile MIME corpus end to end: APPENDed to a real Dovecot and pulled by the IMAP
adapter. The pull finishes without error, every message is stored or quarantined, and
the next pull brings new mail as usual."""

from __future__ import annotations

from datetime import datetime

import pytest
from imapclient.exceptions import IMAPClientError

from inbox.models import Message
from sync.models import QuarantinedMessage
from tests.security.hostile_mime import CASES

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def test_a_pull_through_the_hostile_corpus_finishes_and_the_next_one_still_imports(imap):
    now = datetime.now().astimezone()
    appended = refused = 0
    for build in CASES.values():
        try:
            imap.append("inbox", build(), when=now)
            appended += 1
        except IMAPClientError:
            refused += 1  # Dovecot refuses some bytes (a NUL in a literal): nothing to sync
    assert appended >= 50, f"Dovecot took only {appended} of {len(CASES)}"

    summary = imap.pull()  # asserts no error and no skip
    report = summary.report
    assert report is not None
    assert report.created + report.quarantined == appended, summary.line()
    assert QuarantinedMessage.objects.filter(account=imap.account).count() == report.quarantined
    print(f"\nDovecot: {appended} appended ({refused} refused by Dovecot), {summary.line()}")

    imap.deliver(subject="after the storm", message_id="<calm@client.test>")
    again = imap.pull()
    assert again.report is not None and again.report.created == 1
    assert Message.objects.filter(conversation__account=imap.account, subject="after the storm").exists()
