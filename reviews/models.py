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


class ReasonCode(models.TextChoices):
    """Why a reviewer decided as they did: optional, several allowed, a fixed list (for statistics)."""

    GENERATOR_ARTIFACTS = "generator_artifacts", _("Generator artifacts (hands, text, textures)")
    PROVENANCE_METADATA = "provenance_metadata", _("Provenance metadata (C2PA, XMP, generator parameters)")
    WATERMARK = "watermark", _("Invisible watermark")
    MATCHES_KNOWN_IMAGE = "matches_known_image", _("Matches a known image")
    REVERSE_IMAGE_SEARCH = "reverse_image_search", _("Reverse image search")
    ARTIST_PROCESS_EVIDENCE = "artist_process_evidence", _("Artist's process evidence (sketches, layers, timelapse)")
    CAMERA_ORIGINAL = "camera_original", _("Camera original")
    STYLE_ONLY = "style_only", _("Style only (no concrete evidence)")
    OTHER = "other", _("Other (explain in the note)")


class ReviewCase(models.Model):
    """A question for people about one image; its final decision becomes the image's label.

    Life of a case: ``open`` (in the queue) → a reviewer decides. ``human`` and ``unsure``
    are final at once. ``ai`` is final at once unless the image is in a collection that
    needs a second opinion: then the case is ``awaiting_second`` (back in the queue for a
    different reviewer, who does not see the first decision); agreement makes ``ai`` final,
    disagreement makes it ``escalated`` and an admin's decision is final. Only a final
    decision sets ``label`` and status ``decided``. An admin may re-open a decided case for
    correction: it starts a new ``round`` and its earlier decisions stay.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for a reviewer")
        AWAITING_SECOND = "awaiting_second", _("Waiting for a second, independent reviewer")
        ESCALATED = "escalated", _("Reviewers disagreed: waiting for an admin")
        DECIDED = "decided", _("Decided")

    class Reason(models.TextChoices):
        """Why the image went to people; stored when it is routed and shown on the result page."""

        REVIEW_EVERY_ENTRY = "review_every_entry", _("Collection rule: a person reviews every entry")
        EVIDENCE = "evidence", _("Evidence besides the classifier points to AI")
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
    nearest_training_similarity = models.FloatField(
        null=True, blank=True,
        help_text=_("cosine similarity of the image's classifier embedding to the nearest training image, when "
                    "routed or rescored (empty: no training index for that model); orders the queue"),
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    label = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    labelled_at = models.DateTimeField(null=True, blank=True)
    round = models.PositiveSmallIntegerField(
        default=1, help_text=_("1, plus one for every time an admin re-opened the case for correction")
    )

    class Meta:
        ordering = ["created_at", "id"]
        permissions = [("review_case", "Can claim and decide review cases")]

    def __str__(self) -> str:
        return f"Case #{self.pk} ({self.get_status_display()})"

    @property
    def in_queue(self) -> bool:
        return self.status in QUEUE_STATUSES


QUEUE_STATUSES = (ReviewCase.Status.OPEN, ReviewCase.Status.AWAITING_SECOND)


class ReviewDecision(models.Model):
    """One reviewer's decision on a case, with what the model said at that moment."""

    class Stage(models.TextChoices):
        REVIEW = "review", _("Review")
        SECOND_OPINION = "second_opinion", _("Second opinion")
        ESCALATION = "escalation", _("Admin decision on an escalation")

    case = models.ForeignKey(ReviewCase, on_delete=models.PROTECT, related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    note = models.TextField(blank=True)
    reason_codes = models.JSONField(default=list, blank=True, help_text=_("ReasonCode values, in list order"))
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.REVIEW)
    round = models.PositiveSmallIntegerField(default=1)
    model_p_ai = models.FloatField(null=True, blank=True)
    model_verdict = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} on case #{self.case_id} by {self.reviewer_id}"

    def reason_code_labels(self) -> list[str]:
        labels = dict(ReasonCode.choices)
        return [str(labels.get(code, code)) for code in self.reason_codes or []]


class CaseSkip(models.Model):
    """A reviewer skipped a case: it is not offered to them again until ``until``."""

    case = models.ForeignKey(ReviewCase, on_delete=models.CASCADE, related_name="skips")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    skipped_at = models.DateTimeField(auto_now_add=True)
    until = models.DateTimeField()

    class Meta:
        ordering = ["skipped_at", "id"]
        indexes = [models.Index(fields=["reviewer", "until"])]

    def __str__(self) -> str:
        return f"Case #{self.case_id} skipped by {self.reviewer_id} until {self.until:%Y-%m-%d %H:%M}"


class CaseEvent(AuditEvent):
    """Append-only audit trail of a review case."""

    case = models.ForeignKey(ReviewCase, on_delete=models.CASCADE, related_name="events")
    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} case #{self.case_id}"
