"""The admin app with our site as its default site (named in INSTALLED_APPS).

Kept apart from accounts/admin_site.py: this module is imported while the app registry is
being populated, so it may not import anything that defines models."""

from django.contrib.admin.apps import AdminConfig


class SalesInboxAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.SalesInboxAdminSite"
