from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="inbox:folder", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("inbox/", include("inbox.urls")),
    path("crm/", include("crm.urls")),
    path("api/v1/", include("api.urls")),
    path("settings/api/", include("api.settings_urls")),
    path("settings/email-sync/connect/", include("sync.urls")),
    path("settings/", include("inbox.settings_urls")),
]
