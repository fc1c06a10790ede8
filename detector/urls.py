from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("submit/", views.submit, name="submit"),
    path("submissions/", views.submission_list, name="submission-list"),
    path("submissions/<int:pk>/", views.submission_detail, name="submission-detail"),
    path("submissions/<int:pk>/image", views.submission_image, name="submission-image"),
    path("submissions/<int:pk>/status", views.submission_status, name="submission-status"),
    path("submissions/<int:pk>/heatmap", views.submission_heatmap, name="submission-heatmap"),
    path("submissions/<int:pk>/report", views.submission_report, name="submission-report"),
    path("submissions/<int:pk>/report/image", views.submission_report_image, name="submission-report-image"),
    path("submissions/<int:pk>/report/heatmap", views.submission_report_heatmap, name="submission-report-heatmap"),
    path("submissions/<int:pk>/thumbnail", views.submission_thumbnail, name="submission-thumbnail"),
    path("collections/", views.collection_list, name="collection-list"),
    path("collections/new/", views.collection_new, name="collection-new"),
    path("collections/<int:pk>/", views.collection_detail, name="collection-detail"),
    path("collections/<int:pk>/edit/", views.collection_edit, name="collection-edit"),
    path("collections/<int:pk>/close/", views.collection_close, name="collection-close"),
    path("collections/<int:pk>/upload/", views.collection_upload, name="collection-upload"),
    path("collections/<int:pk>/upload/status", views.collection_upload_status, name="collection-upload-status"),
    path("collections/<int:pk>/report/", views.collection_report, name="collection-report"),
    path("collections/<int:pk>/report.csv", views.collection_report_csv, name="collection-report-csv"),
    path("collections/<int:pk>/report.json", views.collection_report_json, name="collection-report-json"),
]
