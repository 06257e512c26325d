"""Drafts and spam are not mail: Outlook's Drafts and Junk Email are never imported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inbox.models import Message, ProviderRef
from sync.pull import pull_account
from tests.outlook.conftest import outlook_personal

pytestmark = pytest.mark.django_db


def _deliver(mailbox, folder: str, subject: str) -> str:  # type: ignore[no-untyped-def]
    when = datetime.now(UTC) - timedelta(hours=1)
    return mailbox.deliver(folder=folder, received=when, date=when, subject=subject, to=[mailbox.address])


def test_drafts_and_junk_are_not_imported_on_the_first_or_later_syncs(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    _deliver(mailbox, "drafts", "Unsent draft")
    _deliver(mailbox, "junkemail", "Cheap watches")
    real = _deliver(mailbox, "inbox", "Real inquiry")
    assert pull_account(account.pk).report.created == 1
    _deliver(mailbox, "drafts", "Another draft")
    _deliver(mailbox, "junkemail", "More spam")
    assert pull_account(account.pk).report.created == 0
    assert list(Message.objects.filter(account=account).values_list("subject", flat=True)) == ["Real inquiry"]
    assert ProviderRef.objects.filter(key=real).exists()
    assert not [c for c in ms.calls_of("delta") if "drafts" in c.path or "junkemail" in c.path]
    assert ms.count("value") == 1


def test_a_message_moved_to_junk_is_not_a_delete_and_one_rescued_from_junk_is_imported(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    known = _deliver(mailbox, "inbox", "Looks like spam")
    rescued = _deliver(mailbox, "junkemail", "Not spam after all")
    pull_account(account.pk)
    mailbox.move(known, "junkemail")
    mailbox.move(rescued, "inbox")
    report = pull_account(account.pk).report
    assert report.deleted == 0 and report.created == 1
    assert ProviderRef.objects.get(key=known).folder == "junkemail"
    assert ProviderRef.objects.filter(key=rescued).exists()
