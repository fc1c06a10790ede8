from django.urls import path

from . import views

urlpatterns = [
    path("", views.queue, name="review-queue"),
    path("claim/", views.claim_next, name="review-claim-next"),
    path("escalations/", views.escalations, name="review-escalations"),
    path("cases/<int:pk>/", views.case_detail, name="review-case"),
    path("cases/<int:pk>/release/", views.case_release_view, name="review-release"),
    path("cases/<int:pk>/skip/", views.case_skip_view, name="review-skip"),
    path("cases/<int:pk>/requeue/", views.case_requeue_view, name="review-requeue"),
    path("cases/<int:pk>/image", views.case_image, name="review-case-image"),
    path("cases/<int:pk>/heatmap", views.case_heatmap, name="review-case-heatmap"),
    path("cases/<int:pk>/thumbnail", views.case_thumbnail, name="review-case-thumbnail"),
    path("decisions/<int:pk>/undo/", views.decision_undo_view, name="review-decision-undo"),
]
