from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from api.views import docs as api_docs
from web.urls.account import plan_urlpatterns

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="inbox:folder", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("inbox/", include("web.urls.inbox")),
    path("crm/", include("web.urls.crm")),
    path("api/v1/", include("api.urls")),
    path("api/v2/", include("api.urls_v2")),
    path("api/openapi.json", api_docs.openapi_document, name="api_openapi"),
    # Anything else under /api (another version, a typo) gets Pipedrive's JSON envelope too.
    re_path(r"^api(?:/.*)?$", api_docs.not_found, name="api_not_found"),
    path("settings/api/", include("web.urls.api_settings")),
    path("settings/email-sync/connect/", include("web.urls.connect")),
    path("settings/time-zone/", include("web.urls.account")),
    path("settings/plan/", include(plan_urlpatterns)),
    path("settings/", include("web.urls.email_sync")),
]

# Django's own error pages, as JSON envelopes under /api/ (HTML everywhere else).
handler400 = "api.views.docs.bad_request"
handler403 = "api.views.docs.permission_denied"
handler404 = "api.views.docs.page_not_found"
handler500 = "api.views.docs.server_error"
