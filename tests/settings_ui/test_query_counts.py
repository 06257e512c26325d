"""The settings lists cost the same number of queries for 1 row as for many."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Plan
from inbox.models import ChangeStatus
from tests.factories import personal_account, team_account
from tests.settings_ui.conftest import set_plan
from tests.settings_ui.test_settings_pages import change

pytestmark = pytest.mark.django_db


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_general_settings_queries_do_not_grow_with_mailboxes(as_alice: Client, alice, bob, acme):
    set_plan(acme, Plan.ULTIMATE)
    personal_account(alice)
    team_account(acme, [alice], address="team0@acme.test")
    team_account(acme, [bob], address="other0@acme.test")
    url = reverse("email_sync:general")
    few = queries(as_alice, url)

    for n in range(1, 6):
        personal_account(alice, address=f"alice{n}@acme.test")
        team_account(acme, [alice, bob], address=f"team{n}@acme.test")
        team_account(acme, [bob], address=f"other{n}@acme.test")

    assert queries(as_alice, url) == few


def test_status_page_queries_do_not_grow_with_changes(as_alice: Client, alice_mailbox):
    change(alice_mailbox, ChangeStatus.FAILED, error="x")
    url = reverse("email_sync:status", args=[alice_mailbox.pk])
    few = queries(as_alice, url)

    for status in [ChangeStatus.DONE, ChangeStatus.FAILED, ChangeStatus.PENDING] * 7:
        change(alice_mailbox, status, error="why")

    assert queries(as_alice, url) == few
