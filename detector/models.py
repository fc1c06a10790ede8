"""Submitted images, their scores (as versioned evidence rows) and the submission audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from aiornot_site.append_only import AuditEvent

from . import policy


def asset_upload_path(instance: "ImageAsset", filename: str) -> str:
    # Content-addressed: identical bytes always land at the same key.
    return f"images/{instance.sha256[:2]}/{instance.sha256[2:4]}/{instance.sha256}.{instance.extension}"


class ImageAsset(models.Model):
    """One stored image, identified by the sha256 of its original bytes."""

    sha256 = models.CharField(max_length=64, unique=True)
    file = models.FileField(upload_to=asset_upload_path, max_length=255)
    format = models.CharField(max_length=16, help_text=_("Pillow format name, e.g. JPEG, PNG, WEBP"))
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.format} {self.width}x{self.height})"

    @property
    def extension(self) -> str:
        return {"JPEG": "jpg", "MPO": "jpg", "TIFF": "tif"}.get(self.format, self.format.lower())


class Collection(models.Model):
    """A set of submissions judged under one policy: a contest round, a newsroom assignment."""

    class Policy(models.TextChoices):
        GENERAL = "general", _("General")
        ART_CONTEST = "art_contest", _("Art contest")
        NEWSROOM = "newsroom", _("Newsroom")

    name = models.CharField(_("name"), max_length=200)
    policy = models.CharField(_("policy"), max_length=32, choices=Policy.choices, default=Policy.GENERAL)
    description = models.TextField(_("description"), blank=True)
    is_open = models.BooleanField(_("open"), default=True, help_text=_("Open collections accept new submissions"))
    deadline = models.DateTimeField(
        _("deadline"), null=True, blank=True, help_text=_("When decisions are due; earlier deadlines come first in the review queue")
    )
    second_opinion = models.BooleanField(
        null=True,
        blank=True,
        help_text=_(
            "An AI label needs two independent, agreeing reviewers before it is final. "
            "Empty: the policy's default (on for art contests, off otherwise)."
        ),
    )
    review_every_entry = models.BooleanField(
        _("review every entry"),
        null=True,
        blank=True,
        help_text=_(
            "Every submission goes to a person, whatever the model says: the machine clears no entry. "
            "Empty: the policy's default (on for art contests, off otherwise)."
        ),
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_policy_display()})"

    @property
    def reviews_every_entry(self) -> bool:
        if self.review_every_entry is not None:
            return bool(self.review_every_entry)
        return self.policy == self.Policy.ART_CONTEST

    @property
    def needs_second_opinion(self) -> bool:
        if self.second_opinion is not None:
            return bool(self.second_opinion)
        return self.policy == self.Policy.ART_CONTEST


class ImageFingerprint(models.Model):
    """Perceptual hash and classifier embedding of a stored image, for known-image matching."""

    asset = models.OneToOneField(ImageAsset, on_delete=models.CASCADE, related_name="fingerprint")
    pdq = models.CharField(max_length=64, help_text=_("256-bit PDQ hash, hex"))
    pdq_quality = models.PositiveSmallIntegerField()
    pdq_crops = models.JSONField(
        default=list, blank=True, help_text=_("PDQ hashes of standard crops, so a cropped copy still matches")
    )
    embedding = models.BinaryField(null=True, blank=True, help_text=_("float16 classifier embedding"))
    embedding_model = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"PDQ {self.pdq[:16]}... of asset {self.asset_id}"


class KnownImage(models.Model):
    """An image an admin imported as known AI (or known human) from outside the review queue."""

    class Label(models.TextChoices):
        AI = "ai", _("AI-generated")
        HUMAN = "human", _("Human-made")

    label = models.CharField(max_length=8, choices=Label.choices)
    pdq = models.CharField(max_length=64)
    pdq_quality = models.PositiveSmallIntegerField()
    pdq_crops = models.JSONField(default=list, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    set_name = models.CharField(max_length=200, help_text=_("Where the image came from, e.g. the folder imported"))
    source_path = models.CharField(max_length=1000, blank=True)
    imported_by = models.CharField(max_length=150, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sha256", "set_name"], name="one_known_image_per_set")]

    def __str__(self) -> str:
        return f"{self.get_label_display()} from {self.set_name}: {self.source_path}"


class Verdict(models.TextChoices):
    LIKELY_AI = policy.LIKELY_AI, _("Likely AI-generated")
    UNCERTAIN = policy.UNCERTAIN, _("Uncertain")
    LIKELY_HUMAN = policy.LIKELY_HUMAN, _("Likely human-made")


class Evidence(models.Model):
    """One signal about an image from one producer version, with its raw output.

    A versioned policy (detector.policy) turns evidence rows into P(AI) and a verdict,
    so thresholds can change without re-running any model.
    """

    class Kind(models.TextChoices):
        CLASSIFIER = "classifier", _("Learned classifier")
        PROVENANCE = "provenance", _("Provenance metadata")
        WATERMARK = "watermark", _("Invisible watermark")
        VISIBLE_MARK = "visible_mark", _("Visible AI mark")

    asset = models.ForeignKey(ImageAsset, on_delete=models.CASCADE, related_name="evidence")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    producer_version = models.CharField(max_length=200)
    p_ai = models.FloatField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "kind", "producer_version"], name="one_evidence_per_producer_version"
            )
        ]
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return f"{self.kind} {self.producer_version} on {self.asset_id}: {self.p_ai}"


class Submission(models.Model):
    """Someone asked about an image: who, when, how, and what the machine said."""

    class Source(models.TextChoices):
        UPLOAD = "upload", _("File upload")
        URL = "url", _("Web link")

    class Channel(models.TextChoices):
        WEB = "web", _("Web page")
        API = "api", _("REST API")

    class Status(models.TextChoices):
        PENDING = "pending", _("Scoring")
        SCORED = "scored", _("Scored")
        FAILED = "failed", _("Scoring failed")

    asset = models.ForeignKey(ImageAsset, on_delete=models.PROTECT, related_name="submissions")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submissions"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    source_url = models.URLField(max_length=2048, blank=True)
    original_filename = models.CharField(max_length=255, blank=True)
    note = models.TextField(blank=True, help_text=_("The submitter's note for reviewers"))

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    failure_reason = models.TextField(blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    p_ai = models.FloatField(null=True, blank=True)
    verdict = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    model_version = models.CharField(max_length=200, blank=True)
    policy_version = models.CharField(max_length=64, blank=True)
    reused_earlier_result = models.BooleanField(default=False)
    classifier_evidence = models.ForeignKey(
        Evidence, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text=_("The classifier result this verdict was computed from"),
    )
    unstable_under_reencoding = models.BooleanField(
        default=False, help_text=_("A JPEG-90, 0.9x copy got another verdict, so the verdict reads uncertain")
    )
    routed_to_review = models.BooleanField(default=False)
    routing_reason = models.CharField(max_length=64, blank=True)
    collection = models.ForeignKey(
        Collection, null=True, blank=True, on_delete=models.PROTECT, related_name="submissions"
    )
    fusion = models.JSONField(
        default=dict, blank=True, help_text=_("Every piece of evidence and how the fusion rule combined it")
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("submit_image", "Can submit images for scoring"),
            ("view_all_submissions", "Can view every user's submissions"),
        ]

    def __str__(self) -> str:
        return f"Submission #{self.pk} by {self.submitted_by_id}"

    @property
    def too_small_to_judge(self) -> bool:
        """The image is under the policy's minimum size, so its verdict reads uncertain."""
        if self.fusion:
            return bool(self.fusion.get("too_small"))
        return policy.too_small_to_judge(self.asset.width, self.asset.height)

    @property
    def small_image_caution(self) -> bool:
        """The image is judged but small: the model errs more often at this size, both ways."""
        return not self.too_small_to_judge and policy.small_for_reliable_verdict(self.asset.width, self.asset.height)


class SubmissionEvent(AuditEvent):
    """Append-only audit trail of everything that happened to a submission."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="events")
    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} submission #{self.submission_id}"
