"""The two Email sync switches, turned on (or left off) in the browser, then archive /
delete clicked in the inbox: a real worker pushes to Dovecot, and the effect (or its
absence) is read back from Dovecot itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from inbox.models import ChangeStatus, Conversation, ProviderChange
from inbox.services.nudge import PUSH_TASK, send_task_quietly
from inbox.settings_selectors import ARCHIVE_LABEL, DELETE_LABEL, TEAM_ARCHIVE_LABEL
from sync.pull import pull_account
from tests.imap.conftest import ImapSetup, make_setup
from tests.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.dovecot]


def imported(setup: ImapSetup, *subjects: str) -> dict[str, tuple[str, int]]:
    """Deliver messages to Dovecot, pull them in: subject -> (Message-ID, conversation id)."""
    ids = {
        subject: setup.deliver(subject=subject, sender=f"{subject.lower()[:4]}@client.test")
        for subject in subjects
    }
    assert not pull_account(setup.account.pk).error
    return {
        subject: (mid, Conversation.objects.get(account=setup.account, subject=subject).pk)
        for subject, mid in ids.items()
    }


def turn_on(page: Page, label: str) -> None:
    switch = page.get_by_label(label)
    expect(switch).not_to_be_checked()
    switch.check()  # saves at once: no Save button to press
    expect(page.locator("#toasts")).to_contain_text("Saved.")
    page.reload()
    expect(page.get_by_label(label)).to_be_checked()


def archive_in_inbox(page: Page, conversation_id: int, subject: str) -> None:
    page.goto("/inbox/")
    row = page.locator(f"#conv-{conversation_id}")
    row.hover()
    row.get_by_role("button", name=f"Archive “{subject}”").click()
    expect(row).to_have_count(0)


def delete_in_inbox(page: Page, conversation_id: int) -> None:
    page.goto("/inbox/")
    page.locator(f"#conv-{conversation_id}").get_by_role("checkbox").check()
    page.get_by_role("toolbar").get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator(f"#conv-{conversation_id}")).to_have_count(0)


def pushed(account_id: int) -> bool:
    changes = ProviderChange.objects.filter(account_id=account_id)
    return changes.exists() and not changes.exclude(status=ChangeStatus.DONE).exists()


def test_archive_switch_on_archives_in_dovecot(open_as, worker, dovecot, acme, alice, bob):
    setup = make_setup(dovecot, "personal", acme=acme, alice=alice, bob=bob)
    mail = imported(setup, "Pricing", "Renewal")
    page = open_as(alice, "/settings/email-sync/")

    turn_on(page, ARCHIVE_LABEL)
    archive_in_inbox(page, mail["Pricing"][1], "Pricing")

    assert wait_until(lambda: pushed(setup.account.pk))
    assert setup.ids("archive") == [mail["Pricing"][0]]
    assert setup.ids("inbox") == [mail["Renewal"][0]]
    page.goto(f"/settings/email-sync/accounts/{setup.account.pk}/status/")
    expect(page.locator("[data-result=done]")).to_contain_text("Done")


def test_delete_switch_on_moves_to_trash_in_dovecot(open_as, worker, dovecot, acme, alice, bob):
    setup = make_setup(dovecot, "personal", acme=acme, alice=alice, bob=bob)
    mail = imported(setup, "Spam offer", "Contract")
    page = open_as(alice, "/settings/email-sync/")

    turn_on(page, DELETE_LABEL)
    delete_in_inbox(page, mail["Spam offer"][1])

    assert wait_until(lambda: pushed(setup.account.pk))
    assert setup.ids("trash") == [mail["Spam offer"][0]]
    assert setup.ids("inbox") == [mail["Contract"][0]] and setup.ids("archive") == []


def test_switches_off_leave_dovecot_untouched(open_as, worker, worker_log: Path, dovecot, acme, alice, bob):
    setup = make_setup(dovecot, "personal", acme=acme, alice=alice, bob=bob)
    mail = imported(setup, "Pricing", "Spam offer")
    page = open_as(alice, "/settings/email-sync/")
    expect(page.get_by_label(ARCHIVE_LABEL)).not_to_be_checked()
    expect(page.get_by_label(DELETE_LABEL)).not_to_be_checked()

    archive_in_inbox(page, mail["Pricing"][1], "Pricing")
    delete_in_inbox(page, mail["Spam offer"][1])

    assert not ProviderChange.objects.filter(account=setup.account).exists()
    # Give the worker a push of its own to run: it finds nothing to do.
    done_before = worker_log.read_text(errors="replace").count("sync.push_changes")
    send_task_quietly(PUSH_TASK, setup.account.pk)
    assert wait_until(lambda: worker_log.read_text(errors="replace").count("sync.push_changes") > done_before)
    assert sorted(setup.ids("inbox")) == sorted([mail["Pricing"][0], mail["Spam offer"][0]])
    assert setup.ids("archive") == [] and setup.ids("trash") == []
    assert Conversation.objects.get(pk=mail["Pricing"][1]).is_archived
    assert not Conversation.objects.filter(pk=mail["Spam offer"][1]).exists()


def test_team_switch_set_by_alice_applies_when_bob_archives(open_as, worker, dovecot, acme, alice, bob):
    setup = make_setup(dovecot, "team", acme=acme, alice=alice, bob=bob)
    mail = imported(setup, "Partnership")
    account_page = f"/settings/email-sync/accounts/{setup.account.pk}/"

    bobs = open_as(bob, account_page)
    expect(bobs.get_by_label(TEAM_ARCHIVE_LABEL)).to_be_disabled()
    expect(bobs.get_by_text("Only company admins can change")).to_be_visible()

    alices = open_as(alice, account_page)
    turn_on(alices, TEAM_ARCHIVE_LABEL)
    bobs.reload()
    expect(bobs.get_by_label(TEAM_ARCHIVE_LABEL)).to_be_checked()
    expect(bobs.get_by_label(TEAM_ARCHIVE_LABEL)).to_be_disabled()

    archive_in_inbox(bobs, mail["Partnership"][1], "Partnership")

    assert wait_until(lambda: pushed(setup.account.pk))
    assert setup.ids("archive") == [mail["Partnership"][0]] and setup.ids("inbox") == []
