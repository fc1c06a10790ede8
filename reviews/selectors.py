"""Reads for the review queue and for telling submitters what people decided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from detector.models import Submission

from .models import ReviewCase


def open_cases() -> QuerySet[ReviewCase]:
    return ReviewCase.objects.filter(status=ReviewCase.Status.OPEN).select_related("asset", "claimed_by")


def queue_counts() -> dict[str, int]:
    now = timezone.now()
    open_qs = ReviewCase.objects.filter(status=ReviewCase.Status.OPEN)
    claimed = open_qs.filter(claimed_by__isnull=False, lease_expires_at__gte=now).count()
    total = open_qs.count()
    return {"open": total, "claimed": claimed, "waiting": total - claimed}


def case_held_by(reviewer) -> ReviewCase | None:
    return open_cases().filter(claimed_by=reviewer, lease_expires_at__gte=timezone.now()).first()


def case_for_reviewer(*, reviewer, case_id: int) -> ReviewCase | None:
    """A reviewer may open a case they hold, or any decided case (read-only)."""
    return (
        ReviewCase.objects.select_related("asset", "first_submission")
        .filter(pk=case_id)
        .filter(Q(claimed_by=reviewer) | Q(status=ReviewCase.Status.DECIDED))
        .first()
    )


@dataclass(frozen=True)
class ReviewOutcome:
    state: str  # not_routed | waiting | in_review | decided | not_scored
    label: str = ""
    label_display: str = ""
    decided_at: datetime | None = None
    case_id: int | None = None


def submission_outcome(submission: Submission) -> ReviewOutcome:
    """What people have decided about the submitted image, as the submitter may see it."""
    if submission.status != Submission.Status.SCORED:
        return ReviewOutcome(state="not_scored")
    case = ReviewCase.objects.filter(asset_id=submission.asset_id).first()
    if case is None:
        return ReviewOutcome(state="not_routed")
    if case.status == ReviewCase.Status.DECIDED:
        return ReviewOutcome(
            state="decided",
            label=case.label,
            label_display=case.get_label_display(),
            decided_at=case.labelled_at,
            case_id=case.pk,
        )
    in_review = case.claimed_by_id is not None and case.lease_expires_at and case.lease_expires_at >= timezone.now()
    return ReviewOutcome(state="in_review" if in_review else "waiting", case_id=case.pk)
