"""Companies, users and roles, teams — for superusers (everything) and company admins (their
own company; see accounts/admin_site.py)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import ManyToManyField, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from accounts.admin_site import CompanyScopedAdmin

from .models import Company, Team, User


@admin.register(Company)
class CompanyAdmin(CompanyScopedAdmin, admin.ModelAdmin):
    list_display = ("name", "plan", "created_at")
    list_filter = ("plan",)
    search_fields = ("name",)
    company_path = "pk"
    # A company admin renames their company; the plan is the operator's (it is what is paid for).
    company_admin_can = frozenset({"view", "change"})

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if request.user.is_superuser:
            return ()
        return ("plan", "created_at")


@admin.register(User)
class UserAdmin(CompanyScopedAdmin, BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "name", "company", "role", "is_active")
    list_filter = ("role", "is_active", "company")
    search_fields = ("email", "name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "company", "role")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "company", "role", "password1", "password2")}),
    )
    # What a company admin edits: their people and roles, never instance-wide privileges.
    company_fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "role", "is_active")}),
    )
    company_add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "name", "role", "password1", "password2")}),
    )
    company_admin_can = frozenset({"view", "add", "change"})

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        # Operators who happen to sit in a company are not the company admin's to edit.
        return queryset.filter(is_superuser=False)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        return self.company_add_fieldsets if obj is None else self.company_fieldsets

    def get_list_filter(self, request: HttpRequest) -> Any:
        return self.list_filter if request.user.is_superuser else ("role", "is_active")

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        if not request.user.is_superuser:
            user: Any = request.user
            obj.company_id = user.company_id  # new people join the admin's own company
            obj.is_superuser = False
        super().save_model(request, obj, form, change)


@admin.register(Team)
class TeamAdmin(CompanyScopedAdmin, admin.ModelAdmin):
    list_display = ("name", "company")
    filter_horizontal = ("members",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if request.user.is_superuser:
            return ("company", "name", "members")
        return ("name", "members")

    def get_list_filter(self, request: HttpRequest) -> Any:
        return ("company",) if request.user.is_superuser else ()

    def formfield_for_manytomany(self, db_field: ManyToManyField, request: HttpRequest, **kwargs: Any) -> Any:
        user: Any = request.user
        if db_field.name == "members" and not user.is_superuser:
            kwargs["queryset"] = User.objects.filter(company_id=user.company_id)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if request.user.is_superuser:
            return form
        company_id: int = request.user.company_id  # type: ignore[union-attr,assignment]

        class CompanyTeamForm(form):  # type: ignore[valid-type,misc]
            # The company is not a field of this form, so Django cannot check the
            # (company, name) uniqueness itself: without this a duplicate is a database error.
            def clean_name(self) -> str:
                name = self.cleaned_data["name"]
                if (
                    Team.objects.filter(company_id=company_id, name=name)
                    .exclude(pk=self.instance.pk)
                    .exists()
                ):
                    raise ValidationError("Your company already has a team with this name.")
                return name

        return CompanyTeamForm

    def save_model(self, request: HttpRequest, obj: Team, form: ModelForm, change: bool) -> None:
        if not request.user.is_superuser:
            user: Any = request.user
            obj.company_id = user.company_id
        super().save_model(request, obj, form, change)
