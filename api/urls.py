"""/api/v1/ — Pipedrive v1 paths (no trailing slashes, as Pipedrive's clients send them).

Ids are matched as any path segment and parsed in the view, so ``/deals/abc`` answers
400 in Pipedrive's envelope instead of falling through to a 404 page.
"""

from django.urls import path, re_path

from api.views import crm, docs, files, mailbox

app_name = "api"

urlpatterns = [
    path("openapi.json", docs.openapi_document, name="openapi"),
    path("mailbox/mailThreads", mailbox.thread_list, name="thread_list"),
    path("mailbox/mailThreads/<str:thread_id>", mailbox.thread_detail, name="thread_detail"),
    path("mailbox/mailThreads/<str:thread_id>/mailMessages", mailbox.thread_messages, name="thread_messages"),
    path("mailbox/mailMessages/<str:message_id>", mailbox.message_detail, name="message_detail"),
    path("mailbox/mailMessages/<str:message_id>/files", files.message_files, name="message_files"),
    path("files/<str:attachment_id>", files.file_detail, name="file_detail"),
    path("files/<str:attachment_id>/download", files.file_download, name="file_download"),
    path("deals", crm.deal_list, name="deal_list"),
    path("deals/<str:deal_id>", crm.deal_detail, name="deal_detail"),
    path("deals/<str:deal_id>/mailMessages", crm.deal_mail_messages, name="deal_mail_messages"),
    path("persons", crm.person_list, name="person_list"),
    path("persons/<str:person_id>", crm.person_detail, name="person_detail"),
    path("persons/<str:person_id>/mailMessages", crm.person_mail_messages, name="person_mail_messages"),
    path("organizations", crm.organization_list, name="organization_list"),
    path("organizations/<str:organization_id>", crm.organization_detail, name="organization_detail"),
    path("leads", crm.lead_list, name="lead_list"),
    path("leads/<str:lead_id>", crm.lead_detail, name="lead_detail"),
    # Anything else under /api/v1/ gets Pipedrive's 404 envelope, not an HTML page.
    re_path(r"^.*$", docs.not_found, name="not_found"),
]
