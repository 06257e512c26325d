"""A server that goes away while we log in (Dovecot restarting, a load balancer dropping
the connection) is a temporary fault: the change is retried and the mailbox keeps working.
It is not a refused password — asking the user to reconnect would hold every change of
the mailbox until they do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import services
from inbox.models import AccountStatus, ChangeStatus, ProviderChange
from sync.errors import ProviderAuthError
from sync.providers.imap import verify_mailbox
from sync.push import push_account
from tests.chaos.harness import DROP, ChaosDovecot, ImapProxy
from tests.chaos.scenario import build_mailboxes, check_agreement, company_and_actor

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def test_connection_dropped_during_login_is_retried_and_never_asks_to_reconnect(
    chaos_dovecot: ChaosDovecot, proxy: ImapProxy
):
    company, actor = company_and_actor()
    (box,) = build_mailboxes(
        chaos_dovecot, company=company, actor=actor, accounts=1, messages=1, port=proxy.port
    )
    conversation_id = next(iter(box.state))
    result = services.archive_conversations(actor, [conversation_id])
    box.state[conversation_id] = "archived"
    proxy.before(rb"^\S+ LOGIN ", lambda line: DROP)

    summary = push_account(box.account.pk)

    box.account.refresh_from_db()
    change = ProviderChange.objects.get(pk=result.changes[0].pk)
    assert box.account.status == AccountStatus.ACTIVE, box.account.status_reason
    assert summary.retrying == 1 and not summary.skipped_reason
    assert change.status == ChangeStatus.PENDING and change.attempts == 1
    assert change.next_attempt_at > timezone.now()  # retried later, with backoff

    ProviderChange.objects.filter(pk=change.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert push_account(box.account.pk).done == 1
    assert check_agreement(chaos_dovecot, [box]).agree == 1  # archived at Dovecot too


def test_a_refused_password_still_asks_to_reconnect(chaos_dovecot: ChaosDovecot, proxy: ImapProxy):
    user = chaos_dovecot.add_user("chaos")
    with pytest.raises(ProviderAuthError, match="refused the login"):
        verify_mailbox(host="127.0.0.1", port=proxy.port, security="none", login=user.login, password="wrong")
