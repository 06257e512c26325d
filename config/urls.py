from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.generic import RedirectView

from accounts.urls import plan_urlpatterns


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for the web container: the process answers and the database does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz),
    path("", RedirectView.as_view(pattern_name="inbox:folder", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("inbox/", include("inbox.urls")),
    path("crm/", include("crm.urls")),
    path("api/v1/", include("api.urls")),
    path("settings/api/", include("api.settings_urls")),
    path("settings/email-sync/connect/", include("sync.urls")),
    path("settings/time-zone/", include("accounts.urls")),
    path("settings/plan/", include(plan_urlpatterns)),
    path("settings/", include("inbox.settings_urls")),
]
