from django.urls import path

from . import views

urlpatterns = [
    path("", views.models_page, name="registry-models"),
    path("retrain/", views.retrain_start, name="registry-retrain"),
    path("<int:pk>/promote/", views.promote, name="registry-promote"),
    path("<int:pk>/rollback/", views.rollback, name="registry-rollback"),
    path("jobs/<int:pk>/", views.job_detail, name="registry-job"),
]
