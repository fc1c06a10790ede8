"""Every detector version the app has known, the frozen hold-out of reviewer labels, and
background jobs (retraining, rescoring) with their progress."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from aiornot_site.append_only import AuditEvent


class ModelVersion(models.Model):
    """One detector checkpoint: its file, what it was trained on, how it did, and its state."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", _("Candidate")
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    version = models.CharField(max_length=200, unique=True)
    file = models.CharField(max_length=500, help_text=_("Storage name of the checkpoint file"))
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    arch = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE, db_index=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    data_summary = models.JSONField(default=dict, blank=True)
    validation_metrics = models.JSONField(default=dict, blank=True, help_text=_("From the checkpoint"))
    holdout_evaluation = models.JSONField(
        default=dict, blank=True, help_text=_("This version and the active one on the same frozen hold-out")
    )
    thresholds = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="exactly_one_active_model")
        ]
        permissions = [("manage_models", "Can retrain, promote and roll back detector models")]

    def __str__(self) -> str:
        return f"{self.version} ({self.get_status_display()})"


class ModelEvent(AuditEvent):
    """Append-only log of registrations, promotions, refusals and rollbacks."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="events")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.model_version_id}"


class LabelSplit(models.Model):
    """Which side of the train / hold-out line a reviewer-labelled case is on, frozen forever.

    Each retrain assigns the labels decided since the last one, newest first to the hold-out;
    once assigned, a case never changes side, so hold-out images are never trained on and
    training images never judge a model.
    """

    class Split(models.TextChoices):
        TRAIN = "train", _("Training")
        HOLDOUT = "holdout", _("Hold-out")

    case = models.OneToOneField("reviews.ReviewCase", on_delete=models.PROTECT, related_name="split")
    split = models.CharField(max_length=8, choices=Split.choices, db_index=True)
    frozen_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"case #{self.case_id}: {self.split}"


class Job(models.Model):
    """A long operation run by a Celery worker (retrain, rescore), with progress people can watch."""

    class Kind(models.TextChoices):
        RETRAIN = "retrain", _("Retrain")
        RESCORE = "rescore", _("Rescore open cases")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        ADMIN = "admin", _("Started by an admin")
        SCHEDULED = "scheduled", _("Scheduled: enough new labels")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.ADMIN)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else (100 if self.status == self.Status.DONE else 0)
