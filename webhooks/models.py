"""Callback URLs registered by API clients, and each signed delivery sent to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

CASE_DECIDED = "case.decided"
EVENTS = (CASE_DECIDED,)


class WebhookEndpoint(models.Model):
    """A URL told about decided cases of its owner's submissions (or of all cases, for admins).

    ``secret`` signs every delivery (HMAC-SHA256). It is kept in clear text because signing
    needs it, but it is shown to the owner only once, in the response that created it.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.CharField(max_length=2048)
    secret = models.CharField(max_length=128, editable=False)
    events = models.JSONField(default=list, help_text=_("Event names this endpoint receives"))
    all_cases = models.BooleanField(
        default=False,
        help_text=_("Site admins only: receive every decided case, not just the owner's submissions"),
    )
    is_active = models.BooleanField(default=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failure_count = models.PositiveIntegerField(
        default=0, help_text=_("Failed attempts since the last successful delivery")
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Webhook #{self.pk} → {self.url}"

    def subscribes_to(self, event: str) -> bool:
        return event in (self.events or [])


class WebhookDelivery(models.Model):
    """One event for one endpoint: created once, sent until delivered or out of attempts."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    case = models.ForeignKey("reviews.ReviewCase", on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(
        max_length=200, unique=True, editable=False, help_text=_("event:case:round:endpoint; one delivery per key")
    )
    case_round = models.PositiveIntegerField(
        default=1, help_text=_("The case's review round: a case an admin re-opens and decides again is told again")
    )
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(
        default=0, help_text=_("Attempts since the delivery was queued (or re-queued by a redelivery)")
    )
    attempt_log = models.JSONField(
        default=list, blank=True, help_text=_("Every attempt: when, HTTP status or error, duration")
    )
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text=_("When a pending delivery is due (or its claim ends)")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event", "case", "case_round"], name="webhook_delivery_once_per_case_round"
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} {self.event} case #{self.case_id} ({self.status})"

    @staticmethod
    def key_for(*, event: str, case_id: int, endpoint_id: int, case_round: int = 1) -> str:
        return f"{event}:case-{case_id}:round-{case_round}:endpoint-{endpoint_id}"
