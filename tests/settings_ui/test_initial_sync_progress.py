"""The first sync of an IMAP mailbox reports its progress, which the status page shows:
"starting" before the first pull, done/total while it runs, "Syncing" once it finished."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from inbox.models import MailAccount
from sync.pull import pull_account
from tests.imap.conftest import make_setup
from tests.settings_ui.test_settings_pages import html

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def test_first_imap_sync_reports_progress_to_the_status_page(as_alice: Client, dovecot, acme, alice, bob):
    setup = make_setup(dovecot, "personal", acme=acme, alice=alice, bob=bob)
    for n in range(3):
        setup.deliver(subject=f"Question {n}", sender=f"c{n}@client.test")
    url = reverse("email_sync:status", args=[setup.account.pk])
    assert 'data-state="initial"' in html(as_alice.get(url))

    assert not pull_account(setup.account.pk).error

    account = MailAccount.objects.get(pk=setup.account.pk)
    assert (account.initial_sync_done, account.initial_sync_total) == (3, 3)
    assert account.initial_sync_finished_at is not None
    page = html(as_alice.get(url))
    assert 'data-state="active"' in page and "Syncing for the first time" not in page

    finished = account.initial_sync_finished_at
    setup.deliver(subject="Later", sender="later@client.test")
    assert not pull_account(setup.account.pk).error
    assert MailAccount.objects.get(pk=setup.account.pk).initial_sync_finished_at == finished
