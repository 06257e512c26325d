from django.urls import path

from accounts import views

urlpatterns = [path("", views.time_zone, name="time_zone")]

plan_urlpatterns = [path("", views.plan, name="plan")]
