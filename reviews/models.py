"""The review queue: one case per image, reviewer decisions, labels and the case audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from aiornot_site.append_only import AuditEvent


class Decision(models.TextChoices):
    AI = "ai", _("AI-generated")
    HUMAN = "human", _("Human-made")
    UNSURE = "unsure", _("Unsure")


class ReviewCase(models.Model):
    """A question for people about one image; its final decision becomes the image's label."""

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for a reviewer")
        DECIDED = "decided", _("Decided")

    class Reason(models.TextChoices):
        LIKELY_AI = "likely_ai", _("The model scored it likely AI-generated")
        UNCERTAIN = "uncertain", _("The model was uncertain")
        SAMPLED = "sampled_likely_human", _("Random check of an image scored likely human-made")

    asset = models.OneToOneField(
        "detector.ImageAsset", on_delete=models.PROTECT, related_name="review_case"
    )
    first_submission = models.ForeignKey(
        "detector.Submission", on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    p_ai_at_routing = models.FloatField(null=True, blank=True)
    verdict_at_routing = models.CharField(max_length=16, blank=True)
    model_version_at_routing = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    label = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    labelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        permissions = [("review_case", "Can claim and decide review cases")]

    def __str__(self) -> str:
        return f"Case #{self.pk} ({self.get_status_display()})"


class ReviewDecision(models.Model):
    """One reviewer's decision on a case, with what the model said at that moment."""

    case = models.ForeignKey(ReviewCase, on_delete=models.PROTECT, related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    note = models.TextField(blank=True)
    model_p_ai = models.FloatField(null=True, blank=True)
    model_verdict = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} on case #{self.case_id} by {self.reviewer_id}"


class CaseEvent(AuditEvent):
    """Append-only audit trail of a review case."""

    case = models.ForeignKey(ReviewCase, on_delete=models.CASCADE, related_name="events")
    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} case #{self.case_id}"
