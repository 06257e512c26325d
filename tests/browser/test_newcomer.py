"""The newcomer's path on `make demo` data, through a real Celery worker: with the switches
on, archive and delete land in the simulated external mailbox's Archive and Trash (shown on
the mailbox's status page); with them off, the message stays in its Inbox."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from inbox.demo_data import seed_demo
from inbox.models import ChangeStatus, Conversation, MailAccount, ProviderChange
from sync.models import SimulatedMessage
from tests.waiting import wait_until
from tests.worker import running_worker, unique_queue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _set_switches(page: Page, on: bool) -> None:
    page.goto("/settings/email-sync/")
    for name in ("Archive", "Delete"):
        switch = page.get_by_role("switch", name=re.compile(f"^{name} the message"))
        switch.set_checked(on)  # saves at once, with a toast
        expect(page.locator("#toasts")).to_contain_text(
            f"{name} in the external mailbox {'on' if on else 'off'}"
        )
    page.reload()
    for name in ("Archive", "Delete"):
        switch = page.get_by_role("switch", name=re.compile(f"^{name} the message"))
        expect(switch).to_be_checked(checked=on)


def _where(mailbox: MailAccount, conversation_id: int) -> set[str]:
    keys = [
        f"demo:{m}"
        for m in Conversation.objects.get(pk=conversation_id).messages.values_list("message_id", flat=True)
    ]
    return set(
        SimulatedMessage.objects.filter(account=mailbox, key__in=keys).values_list("folder", flat=True)
    )


def _row_action(page: Page, conversation_id: int, name: str) -> None:
    row = page.locator(f"#conv-{conversation_id}")
    row.hover()  # the row's quick actions show on hover, as a rep uses them
    row.get_by_role("button", name=re.compile(f"^{name}")).click()


def _rows_of(page: Page) -> list[int]:
    return [
        int(i) for i in page.locator("#rows > li.row").evaluate_all("rows => rows.map(r => r.dataset.id)")
    ]


def test_newcomer_sees_archive_and_delete_land_in_the_simulated_mailbox_only_with_the_switches_on(open_as):
    with unique_queue("newcomer") as queue, running_worker(queue=queue):
        seed_demo(conversations=40)
        alice = User.objects.get(email="alice@demo.test")
        mailbox = MailAccount.objects.get(address="alice@demo.test")
        # seed_demo nudged the first sync: the worker places the mail in the simulated mailbox.
        assert wait_until(lambda: SimulatedMessage.objects.filter(account=mailbox).exists(), timeout=60)
        inbox_before = SimulatedMessage.objects.filter(account=mailbox, folder="INBOX").count()

        page = open_as(alice, f"/inbox/?account={mailbox.pk}")
        _set_switches(page, on=True)
        page.goto(f"/inbox/?account={mailbox.pk}")
        to_archive, to_delete, to_keep = _rows_of(page)[:3]
        assert _where(mailbox, to_archive) == _where(mailbox, to_delete) == {"INBOX"}
        _row_action(page, to_archive, "Archive")
        expect(page.locator(f"#conv-{to_archive}")).to_have_count(0)
        _row_action(page, to_delete, "Delete")
        dialog = page.get_by_role("dialog", name="Delete 1 conversation?")
        expect(dialog).to_contain_text("to Trash in Demo (simulated mailbox)")
        deleted_subject = Conversation.objects.get(pk=to_delete).subject
        deleted_count = Conversation.objects.get(pk=to_delete).message_count
        dialog.get_by_role("button", name="Delete", exact=True).click()
        expect(page.locator(f"#conv-{to_delete}")).to_have_count(0)

        # The worker pushes both through the outbox.
        assert wait_until(
            lambda: ProviderChange.objects.filter(account=mailbox, status=ChangeStatus.DONE).count() == 2,
            timeout=60,
        )
        assert _where(mailbox, to_archive) == {"Archive"}
        page.goto(f"/settings/email-sync/accounts/{mailbox.pk}/status/")
        simulated = page.get_by_role("region", name="The simulated external mailbox")
        archive = simulated.get_by_role("region", name=re.compile("^Archive"))
        trash = simulated.get_by_role("region", name=re.compile("^Trash"))
        expect(archive.locator("li").first).to_contain_text(Conversation.objects.get(pk=to_archive).subject)
        expect(trash.locator("li").first).to_contain_text(deleted_subject)
        expect(trash.locator("[data-count]")).to_have_text(str(deleted_count))
        expect(
            simulated.get_by_role("region", name=re.compile("^Inbox")).locator("[data-count]")
        ).to_have_text(
            str(inbox_before - Conversation.objects.get(pk=to_archive).message_count - deleted_count)
        )

        # Switches off: archiving in the app leaves the external mailbox alone.
        _set_switches(page, on=False)
        page.goto(f"/inbox/?account={mailbox.pk}")
        _row_action(page, to_keep, "Archive")
        expect(page.locator(f"#conv-{to_keep}")).to_have_count(0)
        assert Conversation.objects.get(pk=to_keep).state == "archived"
        assert ProviderChange.objects.filter(account=mailbox).count() == 2  # nothing new to push
        page.goto(f"/settings/email-sync/accounts/{mailbox.pk}/status/")
        expect(page.get_by_role("heading", name="The simulated external mailbox")).to_be_visible()
        assert _where(mailbox, to_keep) == {"INBOX"}
