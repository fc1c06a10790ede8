from django.contrib import admin

from detector.admin import ReadOnlyAdmin

from .models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    # The signing secret is never shown again after creation, here neither.
    fields = ["owner", "url", "events", "all_cases", "is_active", "created_at", "last_success_at", "failure_count"]
    readonly_fields = fields
    list_display = ["id", "owner", "url", "events", "all_cases", "is_active", "created_at", "last_success_at",
                    "failure_count"]
    list_filter = ["is_active", "all_cases"]
    search_fields = ["url", "owner__username"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    exclude = ["idempotency_key"]
    list_display = ["id", "endpoint", "event", "case", "status", "attempts", "last_status_code", "next_attempt_at",
                    "created_at", "delivered_at"]
    list_filter = ["status", "event"]
    search_fields = ["endpoint__url", "endpoint__owner__username"]
    date_hierarchy = "created_at"
