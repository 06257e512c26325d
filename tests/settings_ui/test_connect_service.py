"""sync/connect.py: the one connect/reconnect service behind the connect form and
``manage.py connect_imap`` — the plan first, then a real login (Dovecot), then the store."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import Plan
from inbox.errors import PlanLimitReached
from inbox.models import AccountKind, AccountStatus, MailAccount
from sync import folder_settings
from sync.connect import ImapLogin, connect_imap_mailbox, plan_refusal
from sync.providers.imap.client import default_port
from tests.imap.dovecot import Dovecot, MailUser, free_port
from tests.settings_ui.conftest import set_plan

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def _login(mail_user: MailUser, **overrides: object) -> ImapLogin:
    values: dict[str, object] = {
        "address": mail_user.address,
        "host": "127.0.0.1",
        "security": "none",
        "password": mail_user.password,
        "port": mail_user.server.port,
        "login": mail_user.login,
    }
    values.update(overrides)
    return ImapLogin(**values)  # type: ignore[arg-type]


def test_default_port():
    assert default_port("ssl") == 993
    assert default_port("starttls") == 143 and default_port("none") == 143
    assert ImapLogin("a@x.test", "h", "ssl", "pw").effective_port == 993
    assert ImapLogin("a@x.test", "h", "starttls", "pw", port=1143).effective_port == 1143


def test_plan_refusal_counts_new_mailboxes_but_never_a_reconnect(alice, alice_mailbox):
    set_plan(alice.company, Plan.GROWTH)
    assert "the most the Growth plan allows" in plan_refusal(alice, kind=AccountKind.PERSONAL, reconnect=None)
    assert plan_refusal(alice, kind=AccountKind.PERSONAL, reconnect=alice_mailbox) == ""
    set_plan(alice.company, Plan.LITE)
    assert "Upgrade" in plan_refusal(alice, kind=AccountKind.PERSONAL, reconnect=alice_mailbox)


def test_connect_imap_mailbox_refuses_over_the_limit_before_contacting_the_server(alice, alice_mailbox):
    set_plan(alice.company, Plan.GROWTH)
    nobody = ImapLogin("new@acme.test", "127.0.0.1", "none", "pw", port=free_port())  # nothing listens
    with pytest.raises(PlanLimitReached, match="already has 1 connected mailbox"):
        connect_imap_mailbox(alice, nobody)
    assert not MailAccount.objects.filter(address="new@acme.test").exists()


def test_connect_imap_mailbox_again_is_a_reconnect_that_keeps_the_chosen_folders(alice, dovecot: Dovecot):
    """Growth allows one mailbox; connecting the same one again (a new password) is a
    reconnect: not refused by the limit, same account, the person's folder choice kept."""
    set_plan(alice.company, Plan.GROWTH)
    mail_user = dovecot.add_user()
    first = connect_imap_mailbox(alice, _login(mail_user))
    folder_settings.set_folder_map(
        alice, first.account.pk, {"sent": "Sent", "archive": "Trash", "trash": None}, ["Sent", "Trash"]
    )
    MailAccount.objects.filter(pk=first.account.pk).update(status=AccountStatus.NEEDS_REAUTH)

    again = connect_imap_mailbox(alice, _login(mail_user))

    account = MailAccount.objects.get(pk=first.account.pk)
    assert not first.reconnected and again.reconnected and again.account.pk == account.pk
    assert account.status == AccountStatus.ACTIVE
    assert account.config["folders"]["archive"] == "Trash" and account.config["folders"]["trash"] is None
    assert MailAccount.objects.filter(company=alice.company).count() == 1


def test_the_form_and_the_command_both_reconnect_through_the_service(
    as_alice: Client, alice, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
):
    """Both entry points share the service's reconnect rule: on Growth, at the limit, the
    same address connects again from the form and from the command (before: the form said
    "already has 1 connected mailbox")."""
    set_plan(alice.company, Plan.GROWTH)
    mail_user = dovecot.add_user()
    monkeypatch.setenv("IMAP_TEST_PASSWORD", mail_user.password)
    out = StringIO()
    call_command(
        "connect_imap", mail_user.address, "--host", "127.0.0.1", "--port", str(dovecot.port),
        "--security", "none", "--login", mail_user.login, "--password-env", "IMAP_TEST_PASSWORD",
        "--user", alice.email, stdout=out,
    )  # fmt: skip
    account_id = int(out.getvalue().strip().splitlines()[-1])

    response = as_alice.post(
        reverse("connect:imap"),
        {
            "address": mail_user.address,
            "host": "127.0.0.1",
            "port": dovecot.port,
            "security": "none",
            "login": mail_user.login,
            "password": mail_user.password,
            "kind": "personal",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    assert response["Location"] == reverse("email_sync:status", args=[account_id])

    call_command(
        "connect_imap", mail_user.address, "--host", "127.0.0.1", "--port", str(dovecot.port),
        "--security", "none", "--login", mail_user.login, "--password-env", "IMAP_TEST_PASSWORD",
        "--user", alice.email, stdout=StringIO(),
    )  # fmt: skip
    assert list(MailAccount.objects.filter(company=alice.company).values_list("id", flat=True)) == [
        account_id
    ]
