from django.urls import path

from web.views import crm as views

app_name = "crm"

urlpatterns = [
    path("<str:kind>/", views.record_list, name="list"),
    path("deal/<int:object_id>/", views.record_detail, {"kind": "deal"}, name="deal"),
    path("lead/<int:object_id>/", views.record_detail, {"kind": "lead"}, name="lead"),
    path("project/<int:object_id>/", views.record_detail, {"kind": "project"}, name="project"),
    path("person/<int:object_id>/", views.record_detail, {"kind": "person"}, name="person"),
    path("organization/<int:object_id>/", views.record_detail, {"kind": "organization"}, name="organization"),
]
