from django.urls import path

from web.views import attachments as attachment_views
from web.views import compose as compose_views
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
    # Compose (inbox/compose_views.py)
    path("compose/", compose_views.new, name="compose"),
    path("compose/send/", compose_views.send, name="compose_send"),
    path("compose/autosave/", compose_views.autosave, name="compose_autosave"),
    path("compose/suggest/", compose_views.suggest, name="compose_suggest"),
    path("compose/settings/", compose_views.settings_page, name="compose_settings"),
    path("c/<int:conversation_id>/reply/", compose_views.reply, name="reply"),
    path("drafts/", compose_views.drafts, name="drafts"),
    path("drafts/<int:draft_id>/", compose_views.draft, name="draft"),
    path("drafts/<int:draft_id>/discard/", compose_views.discard, name="draft_discard"),
    path("outgoing/<int:outgoing_id>/undo/", compose_views.undo, name="send_undo"),
    path("outgoing/<int:outgoing_id>/retry/", compose_views.retry, name="send_retry"),
    path("outgoing/<int:outgoing_id>/edit/", compose_views.edit, name="send_edit"),
]
