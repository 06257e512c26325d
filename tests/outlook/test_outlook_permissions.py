"""Permissions are not authentication: a 403 on one folder or one ``$batch`` part fails that
folder or part, not the account; only token errors (401 after a refresh, ``invalid_grant``)
mean "needs re-authentication". ``Mail.ReadWrite.Shared`` is asked for team mailboxes only,
so personal Microsoft accounts can consent."""

from __future__ import annotations

import pytest

from inbox import services
from inbox.models import AccountStatus, ChangeStatus, ProviderChange, ProviderRef
from sync import oauth
from sync.errors import ProviderAuthError
from sync.providers.outlook.auth import SHARED_SCOPE
from sync.pull import pull_account
from sync.push import push_account
from tests.factories import switches
from tests.outlook.conftest import REDIRECT_URI, deliver, outlook_personal, outlook_team, seed, sign_in

pytestmark = pytest.mark.django_db


def test_a_delegate_denied_one_folder_still_syncs_the_rest_and_stays_connected(ms, acme, alice, bob):
    account, mailbox = outlook_team(ms, acme, [alice, bob], "sales@acme.test", shared_by=alice)
    mailbox.deny("sentitems")
    inbound = deliver(mailbox, subject="Team inquiry")
    deliver(
        mailbox, folder="sentitems", subject="Our answer", sender="sales@acme.test", to=["kim@client.test"]
    )
    summary = pull_account(account.pk)
    assert not summary.error and summary.report.created == 1
    assert ProviderRef.objects.filter(key=inbound).exists()
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_a_403_on_one_batch_part_fails_that_message_not_the_account(ms, acme, alice, bob):
    account, mailbox = outlook_team(ms, acme, [alice, bob], "sales@acme.test", shared_by=alice)
    account.archive_in_provider = True
    account.save()
    allowed, ra = seed(account, mailbox, subject="Visible")
    hidden, rh = seed(account, mailbox, subject="In a private folder")
    mailbox.add_folder("Private")
    mailbox.move(hidden, "Private")
    mailbox.deny("Private")
    services.archive_conversations(bob, [ra.conversation_id, rh.conversation_id])
    push_account(account.pk)
    change = ProviderChange.objects.get(account=account)
    assert change.status == ChangeStatus.FAILED and "403" in change.last_error
    assert mailbox.folder_of(allowed) == "archive"  # the other part went through
    assert change.progress == [allowed]
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_a_401_that_survives_a_refresh_needs_reauthentication(ms, alice):
    account, mailbox = outlook_personal(ms, alice)
    deliver(mailbox, subject="Hello")
    ms.revoke(alice.email)
    summary = pull_account(account.pk)
    assert summary.error
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_REAUTH


def test_an_expired_refresh_token_needs_reauthentication(ms, alice):
    ms.refresh_token_lifetime = -1  # refresh tokens handed out from now on are expired
    account, _ = outlook_personal(ms, alice)
    ms.expire_access_tokens(alice.email)
    ms.access_token_lifetime = 3600
    from sync.providers.outlook.auth import GraphTokens, graph_session

    tokens = GraphTokens(account, graph_session())
    with pytest.raises(ProviderAuthError):
        tokens.access_token(force_refresh=True)
    pull_account(account.pk)
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_REAUTH


def test_a_personal_microsoft_account_connects_without_the_shared_scope(ms):
    ms.add_mailbox("kim@outlook.test", personal=True)
    connected = sign_in(ms, "kim@outlook.test")
    assert connected.address == "kim@outlook.test"
    assert SHARED_SCOPE not in connected.credentials["scopes"]


def test_the_fake_personal_account_refuses_the_shared_scope(ms):
    ms.add_mailbox("kim@outlook.test", personal=True)
    with pytest.raises(ProviderAuthError, match="AADSTS70011"):
        sign_in(ms, "kim@outlook.test", team=True)


def test_only_a_team_mailbox_asks_for_the_shared_scope(ms):
    personal_url, _ = oauth.start("outlook", REDIRECT_URI, login_hint="a@acme.test")
    team_url, _ = oauth.start("outlook", REDIRECT_URI, login_hint="a@acme.test", team=True)
    assert "Mail.ReadWrite.Shared" not in personal_url and "Mail.ReadWrite" in personal_url
    assert "Mail.ReadWrite.Shared" in team_url


def test_a_personal_account_syncs_and_refreshes_with_the_scopes_it_consented_to(ms, alice):
    ms.access_token_lifetime = 120  # msal refreshes at once
    account, mailbox = outlook_personal(ms, alice, personal=True)
    ms.access_token_lifetime = 3600
    graph_id = deliver(mailbox, subject="Personal mail")
    switches(alice, archive=True)
    summary = pull_account(account.pk)
    assert not summary.error and ProviderRef.objects.filter(key=graph_id).exists()
    assert "refresh_token" in ms.token_grants()
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_a_delegate_denied_every_folder_sees_an_error_not_a_reconnect_request(ms, acme, alice, bob):
    account, mailbox = outlook_team(ms, acme, [alice, bob], "sales@acme.test", shared_by=alice)
    for folder in ("inbox", "sentitems", "archive", "deleteditems"):
        mailbox.deny(folder)
    summary = pull_account(account.pk)
    assert "denied access to every folder" in summary.error
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE and "denied access" in account.last_sync_error
