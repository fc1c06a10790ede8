from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from aiornot_site.account_views import api_token as api_token_page
from aiornot_site.api_auth import TokenObtainApi
from detector import apis as detector_apis
from reviews import apis as review_apis
from webhooks import apis as webhook_apis

api_v1 = [
    path("auth/token/", TokenObtainApi.as_view(), name="api-token"),
    path("submissions/", detector_apis.SubmissionListCreateApi.as_view(), name="api-submissions"),
    path("submissions/batch/", detector_apis.SubmissionBatchApi.as_view(), name="api-submissions-batch"),
    path("submissions/<int:pk>/", detector_apis.SubmissionDetailApi.as_view(), name="api-submission-detail"),
    path("submissions/<int:pk>/image", detector_apis.SubmissionImageApi.as_view(), name="api-submission-image"),
    path("review/queue/", review_apis.QueueApi.as_view(), name="api-review-queue"),
    path("review/claim/", review_apis.ClaimNextApi.as_view(), name="api-review-claim"),
    path("review/cases/<int:pk>/", review_apis.CaseDetailApi.as_view(), name="api-review-case"),
    path("review/cases/<int:pk>/release/", review_apis.CaseReleaseApi.as_view(), name="api-review-release"),
    path("review/cases/<int:pk>/decision/", review_apis.CaseDecisionApi.as_view(), name="api-review-decision"),
    path("review/cases/<int:pk>/skip/", review_apis.CaseSkipApi.as_view(), name="api-review-skip"),
    path("review/cases/<int:pk>/requeue/", review_apis.CaseRequeueApi.as_view(), name="api-review-requeue"),
    path("review/escalations/", review_apis.EscalationListApi.as_view(), name="api-review-escalations"),
    path(
        "review/escalations/<int:pk>/decision/",
        review_apis.EscalationDecisionApi.as_view(),
        name="api-review-escalation-decision",
    ),
    path("webhooks/", webhook_apis.WebhookEndpointListCreateApi.as_view(), name="api-webhooks"),
    path("webhooks/<int:pk>/", webhook_apis.WebhookEndpointDetailApi.as_view(), name="api-webhook-detail"),
    path("webhooks/<int:pk>/deliveries/", webhook_apis.WebhookDeliveryListApi.as_view(), name="api-webhook-deliveries"),
    path(
        "webhooks/<int:pk>/deliveries/<int:delivery_pk>/redeliver/",
        webhook_apis.WebhookRedeliverApi.as_view(),
        name="api-webhook-redeliver",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/api-token/", api_token_page, name="account-api-token"),
    path("api/v1/", include(api_v1)),
    path("review/", include("reviews.urls")),
    path("models/", include("registry.urls")),
    path("dashboard/", include("dashboards.urls")),
    path("", include("detector.urls")),
]

handler400 = "aiornot_site.error_views.bad_request"
handler403 = "aiornot_site.error_views.permission_denied"
handler404 = "aiornot_site.error_views.page_not_found"
handler500 = "aiornot_site.error_views.server_error"
