from django.urls import path

from web.views import attachments as attachment_views
from web.views import inbox as views

app_name = "inbox"

urlpatterns = [
    path("", views.folder, name="folder"),
    path("folder/<str:folder>/", views.folder, name="folder_named"),
    path("c/<int:conversation_id>/", views.conversation, name="conversation"),
    path("c/<int:conversation_id>/link/", views.link, name="link"),
    path("c/<int:conversation_id>/picker/", views.picker, name="picker"),
    path("actions/", views.bulk_action, name="bulk_action"),
    path("actions/delete-preview/", views.delete_preview, name="delete_preview"),
    path("history/<str:kind>/<int:object_id>/", views.history, name="history"),
    path("messages/<int:message_id>/body/", views.message_body, name="message_body"),
    path("messages/<int:message_id>/delete/", views.delete_message, name="delete_message"),
    path("attachments/<int:attachment_id>/", attachment_views.download, name="attachment"),
    path("attachments/inline/<str:token>/", attachment_views.inline, name="attachment_inline"),
    path("messages/<int:message_id>/attachments.zip", attachment_views.download_all, name="attachments_zip"),
    path("activity/", views.activity, name="activity"),
    path("counts/", views.nav_counts, name="nav_counts"),
    path("changes/<int:change_id>/retry/", views.retry_change, name="retry_change"),
]
