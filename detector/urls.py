from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("submit/", views.submit, name="submit"),
    path("submissions/", views.submission_list, name="submission-list"),
    path("submissions/<int:pk>/", views.submission_detail, name="submission-detail"),
    path("submissions/<int:pk>/image", views.submission_image, name="submission-image"),
    path("submissions/<int:pk>/heatmap", views.submission_heatmap, name="submission-heatmap"),
]
