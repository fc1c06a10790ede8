from django.urls import path

from . import views

urlpatterns = [
    path("", views.overview, name="dashboard"),
    path("export.json", views.export_json, name="dashboard-export"),
]
