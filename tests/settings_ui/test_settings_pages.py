"""Personal settings › Email sync: General settings, Account (team mailboxes), members,
status, resume, retry, disconnect — through the Django test client, with alice (admin),
bob (regular teammate) and carol (another company) in every permission test."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Plan
from inbox.models import (
    AccountStatus,
    ChangeKind,
    ChangeStatus,
    Conversation,
    MailAccount,
    ProviderChange,
    UserSyncSettings,
)
from inbox.selectors import sync_switches
from inbox.settings_selectors import ARCHIVE_LABEL, DELETE_LABEL
from tests.factories import receive, switches, team_account
from tests.settings_ui.conftest import set_plan

pytestmark = pytest.mark.django_db


def html(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def checkbox(page: str, name: str) -> str:
    """The <input> tag of a switch, to assert checked/disabled."""
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert match, f"no {name} switch on the page"
    return match.group(0)


def change(account: MailAccount, status: str, *, attempts: int = 1, error: str = "") -> ProviderChange:
    return ProviderChange.objects.create(
        company=account.company,
        account=account,
        kind=ChangeKind.ARCHIVE,
        refs=[{"key": "imap:INBOX:1:7", "folder": "INBOX", "uid": 7, "message_id": "<m@x>"}],
        status=status,
        attempts=attempts,
        last_error=error,
        done_at=timezone.now() if status in (ChangeStatus.DONE, ChangeStatus.FAILED) else None,
    )


# --- General settings ------------------------------------------------------------------------


def test_general_settings_show_both_switches_off_with_the_articles_labels(as_alice: Client, alice_mailbox):
    page = html(as_alice.get(reverse("email_sync:general")))

    assert ARCHIVE_LABEL in page and DELETE_LABEL in page
    assert "checked" not in checkbox(page, "archive_in_provider")
    assert "checked" not in checkbox(page, "delete_in_provider")
    assert "disabled" not in checkbox(page, "archive_in_provider")


def test_turning_a_switch_on_applies_to_the_users_personal_mailboxes_only(
    as_alice: Client, alice, bob, alice_mailbox, bob_mailbox, sales_mailbox
):
    response = as_alice.post(reverse("email_sync:general"), {"archive_in_provider": "on"})

    assert response.status_code == 302
    assert sync_switches(alice_mailbox) == (True, False)
    assert sync_switches(bob_mailbox) == (False, False)
    assert sync_switches(sales_mailbox) == (False, False)  # team mailboxes have their own
    page = html(as_alice.get(reverse("email_sync:general")))
    assert "checked" in checkbox(page, "archive_in_provider")
    assert "checked" not in checkbox(page, "delete_in_provider")


def test_turning_both_switches_off_again(as_alice: Client, alice, alice_mailbox):
    switches(alice, archive=True, delete=True)

    as_alice.post(reverse("email_sync:general"), {})

    assert sync_switches(alice_mailbox) == (False, False)


def test_general_settings_list_the_users_mailboxes_with_status_and_nobody_elses(
    as_bob: Client, alice_mailbox, bob_mailbox, carol_mailbox, sales_mailbox
):
    MailAccount.objects.filter(pk=sales_mailbox.pk).update(status=AccountStatus.NEEDS_REAUTH)

    page = html(as_bob.get(reverse("email_sync:general")))

    assert bob_mailbox.address in page and sales_mailbox.address in page
    assert "Needs re-authentication" in page
    assert alice_mailbox.address not in page and carol_mailbox.address not in page
    assert "Other team mailboxes" not in page  # bob is no admin


def test_admin_sees_team_mailboxes_she_is_not_a_member_of_to_manage_them(as_alice: Client, acme, alice, bob):
    support = team_account(acme, [bob], address="support@acme.test")

    page = html(as_alice.get(reverse("email_sync:general")))
    assert "Other team mailboxes" in page and support.address in page

    account_page = html(as_alice.get(reverse("email_sync:account", args=[support.pk])))
    assert reverse("email_sync:account_members", args=[support.pk]) in account_page
    # Admins look after every team mailbox of their company, member or not.
    assert "disabled" not in checkbox(account_page, "archive_in_provider")
    as_alice.post(reverse("email_sync:account_switches", args=[support.pk]), {"archive_in_provider": "on"})
    support.refresh_from_db()
    assert support.archive_in_provider
    # …but its mail stays with its members.
    assert as_alice.get(reverse("inbox:folder") + f"?account={support.pk}").status_code == 404


# --- Account (team mailbox switches) ---------------------------------------------------------


def test_alice_changes_team_mailbox_switches(as_alice: Client, sales_mailbox):
    page = html(as_alice.get(reverse("email_sync:account", args=[sales_mailbox.pk])))
    assert reverse("email_sync:account_switches", args=[sales_mailbox.pk]) in page
    assert "disabled" not in checkbox(page, "delete_in_provider")

    response = as_alice.post(
        reverse("email_sync:account_switches", args=[sales_mailbox.pk]), {"delete_in_provider": "on"}
    )

    assert response.status_code == 302
    sales_mailbox.refresh_from_db()
    assert (sales_mailbox.archive_in_provider, sales_mailbox.delete_in_provider) == (False, True)


def test_bob_sees_team_mailbox_switches_read_only_and_cannot_change_them(as_bob: Client, sales_mailbox):
    sales_mailbox.archive_in_provider = True
    sales_mailbox.save()

    page = html(as_bob.get(reverse("email_sync:account", args=[sales_mailbox.pk])))
    assert "disabled" in checkbox(page, "archive_in_provider") and "checked" in checkbox(
        page, "archive_in_provider"
    )
    assert "disabled" in checkbox(page, "delete_in_provider")
    assert "Only company admins can change" in page
    assert reverse("email_sync:account_switches", args=[sales_mailbox.pk]) not in page

    response = as_bob.post(reverse("email_sync:account_switches", args=[sales_mailbox.pk]), {})

    assert response.status_code == 403
    sales_mailbox.refresh_from_db()
    assert sales_mailbox.archive_in_provider is True


def test_a_personal_mailboxs_account_page_shows_the_owners_general_settings(
    as_alice: Client, alice, alice_mailbox
):
    switches(alice, delete=True)

    page = html(as_alice.get(reverse("email_sync:account", args=[alice_mailbox.pk])))

    assert "checked" in checkbox(page, "delete_in_provider") and "disabled" in checkbox(
        page, "delete_in_provider"
    )
    assert "General settings" in page
    response = as_alice.post(reverse("email_sync:account_switches", args=[alice_mailbox.pk]), {})
    assert response.status_code == 400  # personal mailboxes use the General settings


def test_bob_cannot_open_alices_personal_mailbox(as_bob: Client, alice_mailbox):
    for name in ("account", "status", "disconnect"):
        assert as_bob.get(reverse(f"email_sync:{name}", args=[alice_mailbox.pk])).status_code == 404


def _acme_urls(
    alice_mailbox: MailAccount, sales_mailbox: MailAccount, failed: ProviderChange
) -> list[tuple[str, str]]:
    urls = []
    for account in (alice_mailbox, sales_mailbox):
        urls += [
            ("get", reverse("email_sync:account", args=[account.pk])),
            ("get", reverse("email_sync:status", args=[account.pk])),
            ("get", reverse("email_sync:disconnect", args=[account.pk])),
            ("post", reverse("email_sync:account_switches", args=[account.pk])),
            ("post", reverse("email_sync:account_members", args=[account.pk])),
            ("post", reverse("email_sync:resume", args=[account.pk])),
            ("post", reverse("email_sync:disconnect", args=[account.pk])),
            ("get", reverse("connect:page") + f"?account={account.pk}"),
        ]
    urls.append(("post", reverse("email_sync:retry_change", args=[failed.pk])))
    return urls


def test_carol_gets_404_for_every_acme_mailbox_url(as_carol: Client, alice_mailbox, sales_mailbox):
    failed = change(sales_mailbox, ChangeStatus.FAILED, error="boom")
    MailAccount.objects.filter(pk=sales_mailbox.pk).update(status=AccountStatus.PAUSED)

    for method, url in _acme_urls(alice_mailbox, sales_mailbox, failed):
        data = {"mail": "remove", "members": [], "archive_in_provider": "on"} if method == "post" else None
        response = getattr(as_carol, method)(url, data)
        assert response.status_code == 404, (method, url, response.status_code)

    assert MailAccount.objects.filter(pk__in=[alice_mailbox.pk, sales_mailbox.pk]).count() == 2
    sales_mailbox.refresh_from_db()
    assert sales_mailbox.status == AccountStatus.PAUSED and not sales_mailbox.archive_in_provider
    assert ProviderChange.objects.get(pk=failed.pk).status == ChangeStatus.FAILED


def test_carols_own_pages_show_nothing_of_acme(as_carol: Client, carol_mailbox, alice_mailbox, sales_mailbox):
    page = html(as_carol.get(reverse("email_sync:general")))

    assert carol_mailbox.address in page
    assert alice_mailbox.address not in page and sales_mailbox.address not in page


# --- Team members --------------------------------------------------------------------------------


def test_admin_picks_team_members_and_only_members_see_its_mail(as_alice: Client, alice, bob, acme):
    support = team_account(acme, [alice], address="support@acme.test")
    conversation_id = receive(support).conversation_id
    bob_client = Client()
    bob_client.force_login(bob)
    assert bob_client.get(reverse("inbox:conversation", args=[conversation_id])).status_code == 404

    response = as_alice.post(reverse("email_sync:account_members", args=[support.pk]), {"members": [bob.pk]})

    assert response.status_code == 302
    assert set(support.members.all()) == {bob}
    assert bob_client.get(reverse("inbox:conversation", args=[conversation_id])).status_code == 200
    assert as_alice.get(reverse("inbox:conversation", args=[conversation_id])).status_code == 404


def test_members_from_another_company_are_refused_and_nothing_changes(
    as_alice: Client, alice, carol, sales_mailbox
):
    before = set(sales_mailbox.members.all())

    response = as_alice.post(
        reverse("email_sync:account_members", args=[sales_mailbox.pk]), {"members": [alice.pk, carol.pk]}
    )

    assert response.status_code == 400
    assert set(sales_mailbox.members.all()) == before


def test_bob_cannot_change_team_members(as_bob: Client, bob, sales_mailbox):
    response = as_bob.post(
        reverse("email_sync:account_members", args=[sales_mailbox.pk]), {"members": [bob.pk]}
    )

    assert response.status_code == 403
    assert sales_mailbox.members.count() == 2


# --- Status page ------------------------------------------------------------------------------------


def test_status_shows_a_progress_bar_during_the_first_sync_and_polls_it(as_alice: Client, alice_mailbox):
    MailAccount.objects.filter(pk=alice_mailbox.pk).update(initial_sync_done=50, initial_sync_total=200)
    url = reverse("email_sync:status", args=[alice_mailbox.pk])

    page = html(as_alice.get(url))

    assert "Syncing for the first time" in page and "50 of 200 messages" in page
    assert re.search(r'<progress[^>]*max="200"[^>]*value="50"', page)
    assert 'hx-trigger="every 3s"' in page
    MailAccount.objects.filter(pk=alice_mailbox.pk).update(
        initial_sync_done=200, initial_sync_finished_at=timezone.now(), last_sync_at=timezone.now()
    )
    fragment = html(as_alice.get(url + "?part=progress", headers={"HX-Request": "true"}))
    assert fragment.lstrip().startswith("<div") and 'data-state="active"' in fragment
    assert "<html" not in fragment and "hx-trigger" not in fragment  # stops polling once done


def test_status_shows_last_sync_time_and_counts(as_alice: Client, alice_mailbox):
    receive(alice_mailbox, subject="Pricing", sender="ann@client.test")
    receive(alice_mailbox, subject="Renewal", sender="ben@other.test")
    MailAccount.objects.filter(pk=alice_mailbox.pk).update(
        last_sync_at=timezone.now(), initial_sync_finished_at=timezone.now()
    )

    page = html(as_alice.get(reverse("email_sync:status", args=[alice_mailbox.pk])))

    assert re.search(r'data-count="conversations">2 \(2 in the Inbox, 0 archived\)', page)
    assert 'data-count="messages">2<' in page
    assert "UTC" in page and "Not yet" not in page


def test_needs_reauth_shows_why_and_a_reconnect_button_for_its_owner(as_alice: Client, alice_mailbox):
    MailAccount.objects.filter(pk=alice_mailbox.pk).update(
        status=AccountStatus.NEEDS_REAUTH, status_reason="The IMAP server refused the login: bad password"
    )

    page = html(as_alice.get(reverse("email_sync:status", args=[alice_mailbox.pk])))

    assert "Needs to be reconnected" in page and "refused the login: bad password" in page
    assert f'href="{reverse("connect:page")}?account={alice_mailbox.pk}"' in page


def test_bob_sees_a_team_mailboxs_problem_but_no_buttons(as_bob: Client, sales_mailbox):
    MailAccount.objects.filter(pk=sales_mailbox.pk).update(status=AccountStatus.NEEDS_REAUTH)

    page = html(as_bob.get(reverse("email_sync:status", args=[sales_mailbox.pk])))

    assert "Needs to be reconnected" in page and "Ask a company admin to reconnect it" in page
    assert "?account=" not in page


def test_paused_mailbox_shows_why_and_resumes(as_alice: Client, alice_mailbox):
    MailAccount.objects.filter(pk=alice_mailbox.pk).update(
        status=AccountStatus.PAUSED, status_reason="30 of 40 messages vanished at once: paused for safety"
    )
    url = reverse("email_sync:status", args=[alice_mailbox.pk])
    page = html(as_alice.get(url))
    assert "Paused." in page and "vanished at once" in page
    assert reverse("email_sync:resume", args=[alice_mailbox.pk]) in page

    response = as_alice.post(reverse("email_sync:resume", args=[alice_mailbox.pk]))

    assert response.status_code == 302
    alice_mailbox.refresh_from_db()
    assert alice_mailbox.status == AccountStatus.ACTIVE and alice_mailbox.status_reason == ""


def test_bob_cannot_resume_a_paused_team_mailbox(as_bob: Client, sales_mailbox):
    MailAccount.objects.filter(pk=sales_mailbox.pk).update(status=AccountStatus.PAUSED)

    assert as_bob.post(reverse("email_sync:resume", args=[sales_mailbox.pk])).status_code == 403
    sales_mailbox.refresh_from_db()
    assert sales_mailbox.status == AccountStatus.PAUSED


def test_error_state_shows_the_message(as_alice: Client, alice_mailbox):
    MailAccount.objects.filter(pk=alice_mailbox.pk).update(
        status=AccountStatus.ERROR, status_reason="The IMAP server lacks a needed capability: UIDPLUS"
    )

    page = html(as_alice.get(reverse("email_sync:status", args=[alice_mailbox.pk])))

    assert "Error." in page and "lacks a needed capability: UIDPLUS" in page


def test_recent_changes_show_done_failed_retrying_and_why(as_alice: Client, alice_mailbox):
    done = change(alice_mailbox, ChangeStatus.DONE)
    failed = change(
        alice_mailbox, ChangeStatus.FAILED, attempts=8, error="gave up after 8 attempts: no Trash"
    )
    retrying = change(alice_mailbox, ChangeStatus.PENDING, attempts=2, error="The IMAP server is busy")

    page = html(as_alice.get(reverse("email_sync:status", args=[alice_mailbox.pk])))

    def row(c: ProviderChange) -> str:
        match = re.search(rf'<tr data-change="{c.pk}".*?</tr>', page, re.S)
        assert match
        return match.group(0)

    assert 'data-result="done"' in row(done) and "Retry" not in row(done)
    assert 'data-result="failed"' in row(failed) and "no Trash" in row(failed) and "Retry" in row(failed)
    assert 'data-result="retrying"' in row(retrying) and "attempt 2" in row(retrying)
    assert "The IMAP server is busy" in row(retrying) and "<button" not in row(retrying)
    assert "1 done, 1 waiting, 1 failed" in page


def test_retry_puts_a_failed_change_back_with_fresh_attempts(as_alice: Client, alice_mailbox):
    failed = change(alice_mailbox, ChangeStatus.FAILED, attempts=8, error="gave up")

    response = as_alice.post(reverse("email_sync:retry_change", args=[failed.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("email_sync:status", args=[alice_mailbox.pk])
    failed.refresh_from_db()
    assert failed.status == ChangeStatus.PENDING and failed.attempts == 0


def test_bob_cannot_retry_a_change_of_alices_mailbox(as_bob: Client, alice_mailbox):
    failed = change(alice_mailbox, ChangeStatus.FAILED)

    assert as_bob.post(reverse("email_sync:retry_change", args=[failed.pk])).status_code == 404
    assert ProviderChange.objects.get(pk=failed.pk).status == ChangeStatus.FAILED


# --- Disconnect --------------------------------------------------------------------------------------


def test_disconnect_asks_whether_to_keep_the_mail(as_alice: Client, alice_mailbox):
    receive(alice_mailbox)

    page = html(as_alice.get(reverse("email_sync:disconnect", args=[alice_mailbox.pk])))

    assert 'value="keep"' in page and 'value="remove"' in page and "1 synced conversation" in page


def test_disconnect_keeping_the_mail_stops_sync_and_forgets_the_password(as_alice: Client, alice_mailbox):
    MailAccount.objects.filter(pk=alice_mailbox.pk).update(credentials={"password": "secret"})
    conversation_id = receive(alice_mailbox).conversation_id

    response = as_alice.post(reverse("email_sync:disconnect", args=[alice_mailbox.pk]), {"mail": "keep"})

    assert response.status_code == 302
    alice_mailbox.refresh_from_db()
    assert alice_mailbox.status == AccountStatus.DISCONNECTED and alice_mailbox.credentials == {}
    assert not alice_mailbox.syncs_with_provider
    assert Conversation.objects.filter(pk=conversation_id).exists()
    assert "Disconnected." in html(as_alice.get(response["Location"]))


def test_disconnect_removing_the_mail_deletes_the_mailbox_and_its_mail(as_alice: Client, alice_mailbox):
    conversation_id = receive(alice_mailbox).conversation_id

    response = as_alice.post(reverse("email_sync:disconnect", args=[alice_mailbox.pk]), {"mail": "remove"})

    assert response.status_code == 302 and response["Location"] == reverse("email_sync:general")
    assert not MailAccount.objects.filter(pk=alice_mailbox.pk).exists()
    assert not Conversation.objects.filter(pk=conversation_id).exists()


def test_disconnect_without_a_choice_changes_nothing(as_alice: Client, alice_mailbox):
    response = as_alice.post(reverse("email_sync:disconnect", args=[alice_mailbox.pk]), {})

    assert response.status_code == 400
    alice_mailbox.refresh_from_db()
    assert alice_mailbox.status == AccountStatus.ACTIVE


def test_bob_cannot_disconnect_a_team_mailbox(as_bob: Client, sales_mailbox):
    page = html(as_bob.get(reverse("email_sync:disconnect", args=[sales_mailbox.pk])))
    assert "Only a company admin who is one of its members can disconnect" in page
    assert 'value="remove"' not in page

    response = as_bob.post(reverse("email_sync:disconnect", args=[sales_mailbox.pk]), {"mail": "remove"})

    assert response.status_code == 403
    assert MailAccount.objects.filter(pk=sales_mailbox.pk).exists()


def test_alice_disconnects_a_team_mailbox_keeping_its_mail(as_alice: Client, sales_mailbox):
    response = as_alice.post(reverse("email_sync:disconnect", args=[sales_mailbox.pk]), {"mail": "keep"})

    assert response.status_code == 302
    sales_mailbox.refresh_from_db()
    assert sales_mailbox.status == AccountStatus.DISCONNECTED


# --- Lite plan -----------------------------------------------------------------------------------------


def test_on_lite_every_email_sync_page_shows_the_upgrade_notice(
    as_alice: Client, acme, alice_mailbox, sales_mailbox
):
    set_plan(acme, Plan.LITE)
    pages = [
        reverse("email_sync:general"),
        reverse("email_sync:account", args=[sales_mailbox.pk]),
        reverse("email_sync:status", args=[alice_mailbox.pk]),
        reverse("connect:page"),
    ]
    for url in pages:
        page = html(as_alice.get(url))
        assert "Email sync is available on the Growth plan and higher" in page, url
        assert ARCHIVE_LABEL not in page, url
        assert 'name="password"' not in page and "Connect Google" not in page, url


def test_on_lite_switch_changes_are_refused(as_alice: Client, alice, acme, sales_mailbox):
    set_plan(acme, Plan.LITE)

    general = as_alice.post(reverse("email_sync:general"), {"archive_in_provider": "on"})
    team = as_alice.post(
        reverse("email_sync:account_switches", args=[sales_mailbox.pk]), {"archive_in_provider": "on"}
    )

    assert general.status_code == 403 and team.status_code == 403
    assert "Upgrade" in html(general)
    assert not UserSyncSettings.objects.filter(user=alice).exists()
    sales_mailbox.refresh_from_db()
    assert not sales_mailbox.archive_in_provider


def test_on_lite_carol_still_gets_404_for_acme_mailboxes(as_carol: Client, carol, alice_mailbox):
    set_plan(carol.company, Plan.LITE)

    assert as_carol.get(reverse("email_sync:status", args=[alice_mailbox.pk])).status_code == 404


def test_settings_pages_need_a_sign_in(client: Client, alice_mailbox):
    for url in (reverse("email_sync:general"), reverse("email_sync:status", args=[alice_mailbox.pk])):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_flipped_switch_saves_at_once_with_a_toast_and_undo(client, alice, alice_mailbox):
    from inbox.models import UserSyncSettings

    client.force_login(alice)
    response = client.post("/settings/email-sync/", {"archive_in_provider": "on"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Archive in the external mailbox on. Saved." in html and "Undo" in html
    assert 'id="switches" class="switches" hx-swap-oob="true"' in html
    assert UserSyncSettings.objects.get(user=alice).archive_in_provider
    undo = client.post("/settings/email-sync/", {"undo": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Archive in the external mailbox off. Saved." in undo and "Undo" not in undo
    assert not UserSyncSettings.objects.get(user=alice).archive_in_provider


def test_team_switches_speak_of_the_team_mailbox(client, alice, sales_mailbox):
    from inbox.settings_selectors import TEAM_ARCHIVE_LABEL, TEAM_DELETE_LABEL

    client.force_login(alice)
    page = client.get(f"/settings/email-sync/accounts/{sales_mailbox.pk}/").content.decode()
    assert TEAM_ARCHIVE_LABEL in page and TEAM_DELETE_LABEL in page
    assert "my external email client" not in page
    url = f"/settings/email-sync/accounts/{sales_mailbox.pk}/switches/"
    saved = client.post(url, {"delete_in_provider": "on"}, HTTP_HX_REQUEST="true").content.decode()
    assert f"Team mailbox delete in the external mailbox on for {sales_mailbox}. Saved." in saved
    assert TEAM_DELETE_LABEL in saved


def test_on_lite_synced_mail_status_and_disconnect_stay_and_an_admin_can_change_the_plan(
    client, alice, bob, acme, alice_mailbox
):
    set_plan(acme, Plan.LITE)
    client.force_login(alice)
    general = html(client.get(reverse("email_sync:general")))
    assert reverse("email_sync:status", args=[alice_mailbox.pk]) in general  # the mailbox is listed
    assert 'href="/settings/plan/"' in general and "Change the plan" in general
    status = html(client.get(reverse("email_sync:status", args=[alice_mailbox.pk])))
    assert "Upgrade to use Email sync" in status and "Recent changes to the external mailbox" in status
    account = html(client.get(reverse("email_sync:account", args=[alice_mailbox.pk])))
    assert reverse("email_sync:disconnect", args=[alice_mailbox.pk]) in account

    response = client.post("/settings/plan/", {"plan": "growth"})
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.plan == Plan.GROWTH

    client.force_login(bob)
    assert "Only company admins can change the plan." in html(client.get("/settings/plan/"))
    assert client.post("/settings/plan/", {"plan": "lite"}).status_code == 403
    acme.refresh_from_db()
    assert acme.plan == Plan.GROWTH


@pytest.mark.parametrize(
    "url_name", ["email_sync:general", "connect:page", "plan", "time_zone", "inbox:compose_settings"]
)
def test_every_settings_page_lists_the_team_mailboxes_a_member_may_open(as_alice, acme, alice, bob, url_name):  # type: ignore[no-untyped-def]
    team = team_account(acme, [alice, bob], address="sales@acme.test")
    page = html(as_alice.get(reverse(url_name)))
    assert f'href="{reverse("email_sync:account", args=[team.pk])}"' in page
    assert "Account: sales@acme.test" in page


def test_the_settings_navigation_leaves_out_team_mailboxes_of_another_company(as_alice, alice, carol):  # type: ignore[no-untyped-def]
    theirs = team_account(carol.company, [carol], address="sales@globex.test")
    page = html(as_alice.get(reverse("time_zone")))
    assert "sales@globex.test" not in page
    assert reverse("email_sync:account", args=[theirs.pk]) not in page
