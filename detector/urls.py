from django.urls import path

from .views import collections, submissions

urlpatterns = [
    path("", submissions.home, name="home"),
    path("submit/", submissions.submit, name="submit"),
    path("submissions/", submissions.submission_list, name="submission-list"),
    path("submissions/<int:pk>/", submissions.submission_detail, name="submission-detail"),
    path("submissions/<int:pk>/image", submissions.submission_image, name="submission-image"),
    path("submissions/<int:pk>/status", submissions.submission_status, name="submission-status"),
    path("submissions/<int:pk>/heatmap", submissions.submission_heatmap, name="submission-heatmap"),
    path("submissions/<int:pk>/report", submissions.submission_report, name="submission-report"),
    path("submissions/<int:pk>/report/image", submissions.submission_report_image, name="submission-report-image"),
    path("submissions/<int:pk>/report/heatmap", submissions.submission_report_heatmap, name="submission-report-heatmap"),
    path("submissions/<int:pk>/thumbnail", submissions.submission_thumbnail, name="submission-thumbnail"),
    path("collections/", collections.collection_list, name="collection-list"),
    path("collections/new/", collections.collection_new, name="collection-new"),
    path("collections/<int:pk>/", collections.collection_detail, name="collection-detail"),
    path("collections/<int:pk>/edit/", collections.collection_edit, name="collection-edit"),
    path("collections/<int:pk>/close/", collections.collection_close, name="collection-close"),
    path("collections/<int:pk>/upload/", collections.collection_upload, name="collection-upload"),
    path("collections/<int:pk>/upload/status", collections.collection_upload_status, name="collection-upload-status"),
    path("collections/<int:pk>/report/", collections.collection_report, name="collection-report"),
    path("collections/<int:pk>/report.csv", collections.collection_report_csv, name="collection-report-csv"),
    path("collections/<int:pk>/report.json", collections.collection_report_json, name="collection-report-json"),
]
