"""manage.py email_sync_settings: provisioning the two switches by script, printing the
settings in force; the same permission and plan rules as the pages."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Plan
from inbox.selectors import sync_switches
from inbox.settings_selectors import ARCHIVE_LABEL, DELETE_LABEL
from tests.factories import switches
from tests.settings_ui.conftest import set_plan

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("email_sync_settings", *args, stdout=out)
    return out.getvalue()


def test_prints_a_users_general_settings_and_their_mailboxes(alice, alice_mailbox):
    output = run("--user", "ALICE@acme.test")

    assert "General settings of alice@acme.test (Acme, Premium plan)" in output
    assert f"  {ARCHIVE_LABEL}: off" in output and f"  {DELETE_LABEL}: off" in output
    assert f"Applies to: alice@acme.test (#{alice_mailbox.pk}, active)" in output


def test_sets_one_switch_and_keeps_the_other(alice, alice_mailbox):
    run("--user", "alice@acme.test", "--archive-in-provider", "on")
    output = run("--user", "alice@acme.test", "--delete-in-provider", "on")

    assert sync_switches(alice_mailbox) == (True, True)
    assert f"{ARCHIVE_LABEL}: on" in output and f"{DELETE_LABEL}: on" in output
    run("--user", "alice@acme.test", "--archive-in-provider", "off")
    assert sync_switches(alice_mailbox) == (False, True)


def test_sets_a_team_mailboxs_own_switches_as_a_company_admin(alice, bob, sales_mailbox, bob_mailbox):
    output = run("--account", str(sales_mailbox.pk), "--delete-in-provider", "on")

    sales_mailbox.refresh_from_db()
    assert sync_switches(sales_mailbox) == (False, True)
    assert sync_switches(bob_mailbox) == (False, False)
    assert f'Mailbox {sales_mailbox.pk}: sales@example.test (team mailbox "sales@example.test"' in output
    assert f"{DELETE_LABEL}: on" in output and "Set by: this team mailbox's own settings" in output


def test_a_regular_user_cannot_be_the_acting_admin(bob, sales_mailbox):
    with pytest.raises(CommandError, match=re.escape("bob@acme.test is not an admin of Acme")):
        run("--account", str(sales_mailbox.pk), "--archive-in-provider", "on", "--as", "bob@acme.test")
    assert sync_switches(sales_mailbox) == (False, False)


def test_another_companys_admin_cannot_act_on_acmes_mailbox(carol, sales_mailbox):
    with pytest.raises(CommandError, match=re.escape("carol@globex.test is not an admin of Acme")):
        run("--account", str(sales_mailbox.pk), "--archive-in-provider", "on", "--as", "carol@globex.test")
    assert sync_switches(sales_mailbox) == (False, False)


def test_a_personal_mailbox_points_to_its_owners_general_settings(alice, alice_mailbox):
    switches(alice, archive=True)

    output = run("--account", str(alice_mailbox.pk))

    assert f"{ARCHIVE_LABEL}: on" in output and "Set by: the General settings of alice@acme.test" in output
    with pytest.raises(CommandError, match=re.escape("--user alice@acme.test")):
        run("--account", str(alice_mailbox.pk), "--delete-in-provider", "on")
    assert sync_switches(alice_mailbox) == (True, False)


def test_on_lite_changes_are_refused_and_the_settings_still_print(alice, acme, sales_mailbox):
    set_plan(acme, Plan.LITE)

    with pytest.raises(
        CommandError, match=re.escape("Acme is on the Lite plan. Email sync is available on the Growth")
    ):
        run("--user", "alice@acme.test", "--archive-in-provider", "on")
    with pytest.raises(CommandError, match="Lite plan"):
        run("--account", str(sales_mailbox.pk), "--archive-in-provider", "on")

    output = run("--account", str(sales_mailbox.pk))
    assert "Email sync is off on the Lite plan" in output and f"{ARCHIVE_LABEL}: off" in output
    assert sync_switches(sales_mailbox) == (False, False)


def test_unknown_targets_and_bad_arguments_are_clear_errors(alice):
    with pytest.raises(CommandError, match=re.escape("No user nobody@acme.test")):
        run("--user", "nobody@acme.test")
    with pytest.raises(CommandError, match="No mailbox with id 999999"):
        run("--account", "999999")
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("--user", "alice@acme.test", "--account", "1")
    with pytest.raises(CommandError, match="invalid choice"):
        run("--user", "alice@acme.test", "--archive-in-provider", "yes")
