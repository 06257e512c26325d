"""/api/v2/ — Pipedrive's v2 paths for deals, persons and organizations.

Ids are matched as any path segment and parsed in the view (``/deals/abc`` → 400 in the
envelope); anything else under /api/v2/ gets the envelope 404.
"""

from django.urls import path, re_path

from api.views import docs, v2

app_name = "api_v2"

urlpatterns = [
    path("openapi.json", docs.openapi_document, name="openapi"),
    path("deals", v2.deal_list, name="deal_list"),
    path("deals/<str:deal_id>", v2.deal_detail, name="deal_detail"),
    path("persons", v2.person_list, name="person_list"),
    path("persons/<str:person_id>", v2.person_detail, name="person_detail"),
    path("organizations", v2.organization_list, name="organization_list"),
    path("organizations/<str:organization_id>", v2.organization_detail, name="organization_detail"),
    re_path(r"^.*$", docs.not_found, name="not_found"),
]
