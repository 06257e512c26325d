"""Mailboxes, sync settings, provider changes and audit records in the admin panel.

Secrets never show: ``credentials`` is left out of every form, list and export. Writes go
through the inbox services, acting as the signed-in company admin (so the services' own
rules apply); superusers, who are not part of a company's mailboxes, only look. Provider
changes and audit records are read-only; failed changes can be retried.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import ManyToManyField, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from accounts.admin_site import CompanyScopedAdmin, ReadOnlyAdminMixin
from accounts.models import User
from crm.models import Person, PersonEmail
from inbox import services
from inbox.errors import InboxError, NotFound
from inbox.models import AuditEvent, ChangeStatus, MailAccount, ProviderChange, UserSyncSettings
from inbox.selectors import accessible_accounts

EDITABLE = ("members", "archive_in_provider", "delete_in_provider")
MAILBOX_FIELDS = (
    "company",
    "kind",
    "provider",
    "address",
    "name",
    "owner",
    "members",
    "archive_in_provider",
    "delete_in_provider",
    "status",
    "status_reason",
    "last_sync_at",
    "last_sync_error",
    "next_sync_at",
    "initial_sync_done",
    "initial_sync_total",
    "initial_sync_finished_at",
    "sync_past_days",
    "config",
    "secrets",
    "created_at",
)


@admin.register(MailAccount)
class MailAccountAdmin(CompanyScopedAdmin, admin.ModelAdmin):
    list_display = ("address", "name", "kind", "provider", "company", "owner", "status", "last_sync_at")
    list_filter = ("kind", "provider", "status")
    search_fields = ("address", "name")
    fields = MAILBOX_FIELDS
    exclude = ("credentials",)
    filter_horizontal = ("members",)
    actions = ("resume_sync",)
    company_admin_can = frozenset({"view", "change"})

    @admin.display(description="Password / sign-in")
    def secrets(self, obj: MailAccount) -> str:
        # Says whether something is stored, never what: the field is encrypted at rest and
        # decrypting it for display would put it in the page and the browser's cache.
        return "stored, encrypted (never shown)" if obj.credentials else "none stored"

    def get_list_filter(self, request: HttpRequest) -> Any:
        return ("company", *self.list_filter) if request.user.is_superuser else self.list_filter

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # mailboxes are connected in Personal settings › Email sync (a real login)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # disconnecting (keep or remove the mail) is in the mailbox's settings

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self.company_admin(request):
            return False  # superusers look; the company's admins decide
        return super().has_change_permission(request, obj) and (obj is None or obj.is_team)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        editable: set[str] = set()
        if obj is not None and obj.is_team and self.has_change_permission(request, obj):
            editable.add("members")
            # The services let an admin change the switches of a team mailbox they are in.
            if accessible_accounts(request.user).filter(pk=obj.pk).exists():  # type: ignore[arg-type]
                editable |= {"archive_in_provider", "delete_in_provider"}
        return tuple(f for f in MAILBOX_FIELDS if f not in editable)

    def formfield_for_manytomany(self, db_field: ManyToManyField, request: HttpRequest, **kwargs: Any) -> Any:
        user: Any = request.user
        if db_field.name == "members":
            kwargs["queryset"] = User.objects.filter(company_id=user.company_id)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: MailAccount, form: ModelForm, change: bool) -> None:
        if {"archive_in_provider", "delete_in_provider"} & set(form.changed_data):
            services.set_team_switches(
                request.user,  # type: ignore[arg-type]
                obj.pk,
                archive=form.cleaned_data["archive_in_provider"],
                delete=form.cleaned_data["delete_in_provider"],
            )

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        if "members" in form.changed_data:
            services.set_team_members(
                request.user,  # type: ignore[arg-type]
                form.instance.pk,
                list(form.cleaned_data["members"]),
            )

    @admin.action(description="Resume sync of the selected paused mailboxes", permissions=["change"])
    def resume_sync(self, request: HttpRequest, queryset: QuerySet[MailAccount]) -> None:
        resumed, refused = 0, []
        for account in queryset.filter(status="paused"):
            try:
                services.resume_mailbox(request.user, account.pk)  # type: ignore[arg-type]
                resumed += 1
            except InboxError:
                refused.append(account.address)
        messages.info(request, f"Resumed {resumed} mailbox(es).")
        if refused:
            messages.warning(request, "Not resumed (only their users can): " + ", ".join(refused))


@admin.register(UserSyncSettings)
class UserSyncSettingsAdmin(ReadOnlyAdminMixin, CompanyScopedAdmin, admin.ModelAdmin):
    """Each user's General settings, as in force; only the user changes them (their page)."""

    list_display = ("user", "archive_in_provider", "delete_in_provider")
    search_fields = ("user__email",)
    company_path = "user__company_id"
    company_admin_can = frozenset({"view"})


@admin.register(ProviderChange)
class ProviderChangeAdmin(ReadOnlyAdminMixin, CompanyScopedAdmin, admin.ModelAdmin):
    list_display = (
        "id",
        "account",
        "kind",
        "status",
        "attempts",
        "short_error",
        "actor",
        "created_at",
        "done_at",
    )
    list_filter = ("status", "kind")
    search_fields = ("account__address", "last_error")
    list_select_related = ("account", "actor")
    actions = ("retry_failed",)
    company_admin_can = frozenset({"view"})

    @admin.display(description="Last error")
    def short_error(self, obj: ProviderChange) -> str:
        return obj.last_error[:120]

    @admin.action(description="Retry the selected failed changes", permissions=["view"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[ProviderChange]) -> None:
        retried, refused = 0, 0
        skipped = queryset.exclude(status=ChangeStatus.FAILED).count()  # before retrying changes it
        for change in list(queryset.filter(status=ChangeStatus.FAILED)):
            try:
                services.retry_failed_change(request.user, change.pk)  # type: ignore[arg-type]
                retried += 1
            except NotFound:
                refused += 1
        messages.info(request, f"{retried} failed change(s) will be tried again.")
        if refused:
            messages.warning(
                request,
                f"{refused} change(s) not retried: only people who use a mailbox can retry its changes.",
            )
        if skipped:
            messages.info(request, f"{skipped} selected change(s) had not failed and were left alone.")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, CompanyScopedAdmin, admin.ModelAdmin):
    list_display = ("created_at", "actor", "account", "action", "summary", "message_count")
    list_filter = ("action",)
    search_fields = ("summary", "actor__email")
    list_select_related = ("actor", "account")
    company_admin_can = frozenset({"view"})


class PersonEmailInline(admin.TabularInline):
    model = PersonEmail
    extra = 1
    exclude = ("company",)


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    """A person and their addresses (operators). Lives here, not in crm/admin.py, because
    saving the addresses links the person's conversations (inbox.services.relink_person)."""

    list_display = ("name", "organization", "company")
    search_fields = ("name", "emails__email")
    inlines = (PersonEmailInline,)

    def save_formset(self, request, form, formset, change):  # type: ignore[no-untyped-def]
        for obj in formset.save(commit=False):
            obj.company = form.instance.company
            obj.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()

    def save_related(self, request, form, formsets, change):  # type: ignore[no-untyped-def]
        super().save_related(request, form, formsets, change)
        services.relink_person(form.instance)
