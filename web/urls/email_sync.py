"""Personal settings › Email sync (mounted at /settings/ in config/urls.py)."""

from django.urls import path

from web.views import email_sync_settings as views

app_name = "email_sync"

urlpatterns = [
    path("email-sync/", views.general, name="general"),
    path("email-sync/accounts/<int:account_id>/", views.account, name="account"),
    path("email-sync/accounts/<int:account_id>/switches/", views.account_switches, name="account_switches"),
    path("email-sync/accounts/<int:account_id>/members/", views.account_members, name="account_members"),
    path("email-sync/accounts/<int:account_id>/status/", views.status, name="status"),
    path("email-sync/accounts/<int:account_id>/resume/", views.resume, name="resume"),
    path("email-sync/accounts/<int:account_id>/disconnect/", views.disconnect, name="disconnect"),
    path("email-sync/changes/<int:change_id>/retry/", views.retry_change, name="retry_change"),
]
