"""manage.py sync_mail and push_changes run the task code synchronously: one line each."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command

from accounts.models import Plan
from inbox import services
from inbox.models import ChangeStatus, Conversation, ProviderChange
from tests.imap.conftest import ImapSetup

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def run(command: str, *args: str) -> list[str]:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_sync_mail_pulls_one_account_and_prints_a_summary(imap: ImapSetup):
    imap.deliver(subject="One")
    imap.deliver(subject="Two")

    lines = run("sync_mail", "--account", str(imap.account.pk))

    assert lines == [
        f"account {imap.account.pk}: "
        "2 new, 0 already known, 0 deleted earlier, 0 deleted externally, 0 quarantined"
    ]
    assert Conversation.objects.filter(account=imap.account).count() == 2


def test_sync_mail_without_account_syncs_every_connected_mailbox(imap: ImapSetup, alice_mailbox):
    imap.deliver(subject="One")

    lines = dict(line.split(": ", 1) for line in run("sync_mail"))

    assert lines[f"account {imap.account.pk}"].startswith("1 new")
    # A mailbox that cannot sync reports why on its own line; the others still sync.
    assert lines[f"account {alice_mailbox.pk}"] == "error: No IMAP password is stored for alice@acme.test."


def test_sync_mail_skips_an_account_already_syncing(imap: ImapSetup):
    cache.add(f"sync-account-lock:{imap.account.pk}", "1", timeout=60)
    try:
        lines = run("sync_mail", "--account", str(imap.account.pk))
    finally:
        cache.delete(f"sync-account-lock:{imap.account.pk}")
    assert lines == [f"account {imap.account.pk}: skipped: a sync of this account is already running"]


def test_sync_mail_on_the_lite_plan_does_not_touch_the_provider(imap: ImapSetup):
    imap.deliver(subject="Invisible")
    imap.account.company.plan = Plan.LITE
    imap.account.company.save()

    lines = run("sync_mail", "--account", str(imap.account.pk))

    assert "skipped: email sync is off" in lines[0]
    assert not Conversation.objects.filter(account=imap.account).exists()


def test_push_changes_pushes_pending_changes_and_prints_a_summary(imap: ImapSetup):
    question = imap.deliver(subject="Archive me")
    imap.pull()
    imap.switches(archive=True)
    conversation = Conversation.objects.get(account=imap.account)
    services.archive_conversations(imap.actor, [conversation.pk])

    lines = run("push_changes")

    assert lines == [f"account {imap.account.pk}: 1 done, 0 retrying, 0 failed"]
    assert ProviderChange.objects.get().status == ChangeStatus.DONE
    assert imap.ids("archive") == [question]
    assert run("push_changes", "--account", str(imap.account.pk)) == [
        f"account {imap.account.pk}: 0 done, 0 retrying, 0 failed"
    ]
