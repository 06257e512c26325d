"""Connecting a mailbox (mounted at /settings/email-sync/connect/ in config/urls.py)."""

from django.urls import path

from web.views import connect as views

app_name = "connect"

urlpatterns = [
    path("", views.connect, name="page"),
    path("imap/", views.connect_imap, name="imap"),
    path("imap/<int:account_id>/folders/", views.imap_folders, name="imap_folders"),
    path("google/", views.google_start, name="google"),
    path("google/callback/", views.google_callback, name="google_callback"),
    path("microsoft/", views.microsoft_start, name="microsoft"),
    path("microsoft/callback/", views.microsoft_callback, name="microsoft_callback"),
]
