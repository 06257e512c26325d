from django.urls import path

from web.views import account as views

urlpatterns = [path("", views.time_zone, name="time_zone")]

plan_urlpatterns = [path("", views.plan, name="plan")]
