"""The admin panel: company admins manage their own company (users and roles, teams,
mailboxes, sync records) without being staff; superusers see every company and the
instance-wide parts; secrets never show; provider changes and audit records are read-only,
with a Retry action for failed changes."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from accounts.admin_site import SalesInboxAdminSite
from accounts.models import Company, Plan, Role, User
from inbox import services
from inbox.models import AuditEvent, ChangeStatus, MailAccount, ProviderChange
from tests.factories import receive, switches
from tests.settings_ui.test_settings_pages import change, html

pytestmark = pytest.mark.django_db

SECRET = "hunter2-never-shown"


@pytest.fixture
def operator(db) -> User:  # type: ignore[no-untyped-def]
    return User.objects.create_superuser("root@operator.test", "pw-123456789")


@pytest.fixture
def as_operator(operator: User) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def url(name: str, *args: object) -> str:
    return reverse(f"admin:{name}", args=args)


def test_the_default_admin_site_is_ours():
    assert isinstance(
        admin.site._wrapped if hasattr(admin.site, "_wrapped") else admin.site, SalesInboxAdminSite
    )


def test_company_admin_opens_the_panel_without_being_staff(as_alice: Client, alice):
    assert not alice.is_staff

    page = html(as_alice.get(url("index")))

    for section in ("Mail accounts", "Users", "Teams", "Companies", "Provider changes", "Audit events"):
        assert section in page, section
    assert "User sync settings" in page
    assert "Periodic tasks" not in page and "Groups" not in page  # instance-wide: operators only


def test_regular_users_are_kept_out(as_bob: Client):
    response = as_bob.get(url("index"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert as_bob.get(url("inbox_mailaccount_changelist")).status_code == 302


def test_a_company_admin_signs_in_with_the_admin_form(alice):
    client = Client()
    response = client.post(url("login"), {"username": "alice@acme.test", "password": "pw-123456789"})
    assert response.status_code == 302
    assert client.get(url("index")).status_code == 200


def test_operator_sees_instance_wide_sections(as_operator: Client):
    page = html(as_operator.get(url("index")))
    assert "Periodic tasks" in page and "Companies" in page


def test_no_two_admin_sections_share_a_name(as_operator: Client):
    """Issue 20: the panel had two "ACCOUNTS" sections (ours and allauth's)."""
    sections = [app["name"].casefold() for app in as_operator.get(url("index")).context["app_list"]]
    assert len(sections) == len(set(sections)), sections
    assert "company and users" in sections


def test_mailbox_secrets_never_show(as_alice: Client, as_operator: Client, alice_mailbox):
    MailAccount.objects.filter(pk=alice_mailbox.pk).update(credentials={"password": SECRET})

    for client in (as_alice, as_operator):
        for page_url in (
            url("inbox_mailaccount_changelist"),
            url("inbox_mailaccount_change", alice_mailbox.pk),
            url("inbox_mailaccount_changelist") + "?q=alice",
        ):
            page = html(client.get(page_url))
            assert SECRET not in page and "credentials" not in page.lower(), page_url
    assert "stored, encrypted (never shown)" in html(
        as_alice.get(url("inbox_mailaccount_change", alice_mailbox.pk))
    )


def test_company_admin_sees_only_her_companys_rows(as_alice: Client, alice_mailbox, carol_mailbox, carol):
    mailboxes = html(as_alice.get(url("inbox_mailaccount_changelist")))
    users = html(as_alice.get(url("accounts_user_changelist")))
    companies = html(as_alice.get(url("accounts_company_changelist")))

    assert alice_mailbox.address in mailboxes and carol_mailbox.address not in mailboxes
    assert "alice@acme.test" in users and "carol@globex.test" not in users
    assert "Acme" in companies and "Globex" not in companies
    assert (
        as_alice.get(url("inbox_mailaccount_change", carol_mailbox.pk)).status_code == 302
    )  # "doesn't exist"
    assert as_alice.get(url("accounts_user_change", carol.pk)).status_code == 302


def test_carol_sees_nothing_of_acme_in_the_panel(as_carol: Client, alice_mailbox, sales_mailbox, alice):
    failed = change(sales_mailbox, ChangeStatus.FAILED, error="boom")

    for name, pk in (
        ("inbox_mailaccount_change", sales_mailbox.pk),
        ("inbox_providerchange_change", failed.pk),
        ("accounts_user_change", alice.pk),
        ("accounts_company_change", alice.company_id),
    ):
        response = as_carol.get(url(name, pk))
        assert response.status_code == 302 and response["Location"] == url("index"), name
    changes = html(as_carol.get(url("inbox_providerchange_changelist")))
    assert "boom" not in changes and sales_mailbox.address not in changes
    # An action on Acme's change id does nothing: the ids are looked up in her company only.
    as_carol.post(
        url("inbox_providerchange_changelist"), {"action": "retry_failed", "_selected_action": [failed.pk]}
    )
    assert ProviderChange.objects.get(pk=failed.pk).status == ChangeStatus.FAILED


def test_company_admin_sets_team_mailbox_switches_and_members_through_the_services(
    as_alice: Client, alice, bob, sales_mailbox
):
    response = as_alice.post(
        url("inbox_mailaccount_change", sales_mailbox.pk),
        {"members": [alice.pk], "archive_in_provider": "on", "_save": "Save"},
    )

    assert response.status_code == 302, html(response)
    sales_mailbox.refresh_from_db()
    assert sales_mailbox.archive_in_provider and not sales_mailbox.delete_in_provider
    assert set(sales_mailbox.members.all()) == {alice}


def test_personal_mailboxes_and_operator_views_are_read_only(
    as_alice: Client, as_operator: Client, alice, alice_mailbox, sales_mailbox
):
    personal = html(as_alice.get(url("inbox_mailaccount_change", alice_mailbox.pk)))
    assert 'name="_save"' not in personal
    team_for_operator = html(as_operator.get(url("inbox_mailaccount_change", sales_mailbox.pk)))
    assert 'name="_save"' not in team_for_operator
    response = as_operator.post(
        url("inbox_mailaccount_change", sales_mailbox.pk), {"archive_in_provider": "on", "_save": "Save"}
    )
    assert response.status_code == 403
    sales_mailbox.refresh_from_db()
    assert not sales_mailbox.archive_in_provider
    assert as_alice.get(url("inbox_mailaccount_add")).status_code == 403  # connect in the settings


def test_provider_changes_are_read_only_and_failed_ones_can_be_retried(as_alice: Client, alice_mailbox):
    failed = change(alice_mailbox, ChangeStatus.FAILED, attempts=8, error="gave up: no Trash folder")
    done = change(alice_mailbox, ChangeStatus.DONE)

    detail = html(as_alice.get(url("inbox_providerchange_change", failed.pk)))
    assert "gave up: no Trash folder" in detail and 'name="_save"' not in detail
    assert as_alice.post(url("inbox_providerchange_change", failed.pk), {"status": "done"}).status_code == 403
    assert as_alice.get(url("inbox_providerchange_add")).status_code == 403

    response = as_alice.post(
        url("inbox_providerchange_changelist"),
        {"action": "retry_failed", "_selected_action": [failed.pk, done.pk]},
        follow=True,
    )

    page = html(response)
    assert "1 failed change(s) will be tried again" in page and "1 selected change(s) had not failed" in page
    failed.refresh_from_db()
    assert failed.status == ChangeStatus.PENDING and failed.attempts == 0
    assert ProviderChange.objects.get(pk=done.pk).status == ChangeStatus.DONE


def test_audit_records_are_listed_read_only(as_alice: Client, alice, alice_mailbox):
    switches(alice, archive=True)
    conversation = receive(alice_mailbox, subject="Contract").conversation_id
    services.archive_conversations(alice, [conversation])
    event = AuditEvent.objects.get()

    page = html(as_alice.get(url("inbox_auditevent_changelist")))
    assert event.summary in page
    assert 'name="_save"' not in html(as_alice.get(url("inbox_auditevent_change", event.pk)))
    assert as_alice.post(url("inbox_auditevent_delete", event.pk), {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_company_admin_adds_a_user_to_her_own_company_only(as_alice: Client, acme, carol):
    form = html(as_alice.get(url("accounts_user_add")))
    assert 'name="is_superuser"' not in form and 'name="company"' not in form

    response = as_alice.post(
        url("accounts_user_add"),
        {
            "email": "dave@acme.test",
            "name": "Dave",
            "role": Role.REGULAR,
            "password1": "a-long-password-1234",
            "password2": "a-long-password-1234",
            "company": carol.company_id,  # ignored: not a field she has
            "is_superuser": "on",
        },
    )

    assert response.status_code == 302, html(response)
    dave = User.objects.get(email="dave@acme.test")
    assert dave.company == acme and not dave.is_superuser and not dave.is_staff


def test_company_admin_changes_a_role_but_not_privileges(as_alice: Client, bob):
    page = html(as_alice.get(url("accounts_user_change", bob.pk)))
    assert 'name="role"' in page and 'name="is_staff"' not in page and 'name="is_superuser"' not in page

    response = as_alice.post(
        url("accounts_user_change", bob.pk),
        {"email": bob.email, "name": "Bob", "role": Role.ADMIN, "is_active": "on", "is_superuser": "on"},
    )

    assert response.status_code == 302, html(response)
    bob.refresh_from_db()
    assert bob.role == Role.ADMIN and not bob.is_superuser


def test_the_plan_is_the_operators_to_change(as_alice: Client, as_operator: Client, acme):
    response = as_alice.post(
        url("accounts_company_change", acme.pk), {"name": "Acme Inc", "plan": Plan.ULTIMATE}
    )
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.name == "Acme Inc" and acme.plan == Plan.PREMIUM

    as_operator.post(
        url("accounts_company_change", acme.pk),
        {"name": "Acme Inc", "plan": Plan.LITE, "created_at_0": "2024-01-01", "created_at_1": "00:00:00"},
    )
    acme.refresh_from_db()
    assert acme.plan == Plan.LITE
    assert Company.objects.count() == 1


def test_teams_get_members_of_the_admins_company_only(as_alice: Client, alice, bob, carol, acme):
    response = as_alice.post(url("accounts_team_add"), {"name": "Sales", "members": [alice.pk, carol.pk]})
    assert response.status_code == 200 and "Select a valid choice" in html(response)

    response = as_alice.post(url("accounts_team_add"), {"name": "Sales", "members": [alice.pk, bob.pk]})
    assert response.status_code == 302
    team = acme.teams.get(name="Sales")
    assert set(team.members.all()) == {alice, bob}

    again = as_alice.post(url("accounts_team_add"), {"name": "Sales", "members": [bob.pk]})
    assert again.status_code == 200 and "already has a team with this name" in html(again)
    assert acme.teams.count() == 1


def test_operator_adding_a_persons_address_in_the_admin_links_their_mail(
    as_operator: Client, acme, alice_mailbox
):
    """The admin's Person page calls inbox.services.relink_person after saving (no signal)."""
    from crm.models import Person
    from inbox.models import Participant
    from tests.factories import parsed, receive

    convo_id = receive(alice_mailbox, parsed(sender="dana@client.test")).conversation_id
    response = as_operator.post(
        url("crm_person_add"),
        {
            "company": acme.pk,
            "name": "Dana",
            "phone": "",
            "created_at_0": "2026-01-05",
            "created_at_1": "10:00:00",
            "emails-TOTAL_FORMS": "1",
            "emails-INITIAL_FORMS": "0",
            "emails-0-email": "dana@client.test",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    person = Person.objects.get(name="Dana")
    assert (
        Participant.objects.get(conversation_id=convo_id, address="dana@client.test").person_id == person.pk
    )
