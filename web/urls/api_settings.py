"""Personal settings › API: the signed-in (cookie session) page to make or revoke a token."""

from django.urls import path

from web.views import api_settings as settings_page

app_name = "api_settings"

urlpatterns = [path("", settings_page.api_settings, name="page")]
