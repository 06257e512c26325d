"""The Django admin as the company admins' panel, not only the operators'.

Company admins (role "admin") open /admin/ without being ``is_staff``: they see and change
their own company's users, teams, mailboxes and sync records (each ModelAdmin scopes its
rows with ``CompanyScopedAdmin``). Superusers, the operators of the installation, see every
company and the instance-wide parts (plans, Celery beat's periodic tasks, groups).

accounts/admin_apps.py makes ``SalesInboxAdminSite`` the default site (``admin.site``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest


def is_panel_user(user: Any) -> bool:
    return bool(
        user.is_active and (user.is_staff or (getattr(user, "is_company_admin", False) and user.company_id))
    )


class PanelAuthenticationForm(AdminAuthenticationForm):
    """The admin's own sign-in form lets company admins in too (not only staff)."""

    def confirm_login_allowed(self, user: Any) -> None:
        if not is_panel_user(user):
            super().confirm_login_allowed(user)


class SalesInboxAdminSite(AdminSite):
    site_header = "Sales Inbox administration"
    site_title = "Sales Inbox admin"
    index_title = "Company administration"
    login_form = PanelAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return is_panel_user(request.user)


class CompanyScopedAdmin:
    """ModelAdmin mixin: superusers see everything; a company admin sees the rows of their
    own company (``company_path`` is the lookup from the model to its company id) and may
    use the model as far as ``company_admin_can`` allows; nobody else sees it at all."""

    company_path = "company_id"
    company_admin_can: frozenset[str] = frozenset({"view", "add", "change", "delete"})

    @staticmethod
    def company_admin(request: HttpRequest) -> bool:
        user: Any = request.user
        return bool(
            user.is_active
            and not user.is_superuser
            and getattr(user, "is_company_admin", False)
            and user.company_id
        )

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        user: Any = request.user
        if user.is_superuser:
            return queryset
        if not self.company_admin(request):
            return queryset.none()
        return queryset.filter(**{self.company_path: user.company_id})

    def _in_company(self, request: HttpRequest, obj: Any) -> bool:
        if obj is None:
            return True
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def _allowed(self, request: HttpRequest, what: str, obj: Any = None) -> bool:
        return (
            self.company_admin(request) and what in self.company_admin_can and self._in_company(request, obj)
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return True
        return self.company_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)  # type: ignore[misc]
        return self._allowed(request, "view", obj) or self._allowed(request, "change", obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        if request.user.is_superuser:
            return super().has_add_permission(request, *args)  # type: ignore[misc]
        return self._allowed(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return super().has_change_permission(request, obj)  # type: ignore[misc]
        return self._allowed(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return super().has_delete_permission(request, obj)  # type: ignore[misc]
        return self._allowed(request, "delete", obj)


class ReadOnlyAdminMixin:
    """Records nobody edits by hand (the audit trail, the outbox, what the services wrote)."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
