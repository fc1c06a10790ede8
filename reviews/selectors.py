"""Reads of the review queue and of routing: who may claim what, in which order, how much waits,
which scored images go to people, and what people decided about a submission.

Reads about one case and the case list, as a reviewer or admin sees them: ``case_selectors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import (
    BooleanField, Case, Count, Exists, F, FloatField, OuterRef, Q, QuerySet, Subquery, Value, When,
)
from django.db.models.functions import Abs, Floor
from django.utils import timezone

from aiornot_site.roles import is_site_admin
from detector.models import Collection, Submission
from detector.policy import LIKELY_AI, LIKELY_HUMAN, likely_human_sample_rate, sampled_for_review

from .models import QUEUE_STATUSES, CaseSkip, Decision, ReviewCase, ReviewDecision

# --- The queue ---------------------------------------------------------------------------------


def claimable_q(now) -> Q:
    """Cases in the queue that nobody holds now (never claimed, or the lease has expired)."""
    return Q(status__in=QUEUE_STATUSES) & (Q(claimed_by__isnull=True) | Q(lease_expires_at__lt=now))


def held_q(reviewer, now) -> Q:
    """The queued case(s) this reviewer holds under a lease that has not expired."""
    return Q(status__in=QUEUE_STATUSES, claimed_by=reviewer, lease_expires_at__gte=now)


def open_cases() -> QuerySet[ReviewCase]:
    """Cases in the queue: waiting for a first or a second reviewer."""
    return ReviewCase.objects.filter(status__in=QUEUE_STATUSES).select_related("asset", "claimed_by")


# Cases whose |P(AI) - 0.5| fall in the same band of this width count as comparably uncertain:
# between them, the teaching order lets novelty decide (0.52 and 0.54 are one band, 0.52 and 0.7 are not).
TEACHING_UNCERTAINTY_BAND = 0.05


def queue_ordered(cases: QuerySet[ReviewCase]) -> QuerySet[ReviewCase]:
    """The queue order (services.case_claim_next lists it for reviewers).

    1. Deadline: the soonest collection deadline of the image; none last.
    2. Uncertainty band: ``|p_ai_at_routing - 0.5|`` (an art-contest likely_ai call counts as 0,
       no score as 0.5) in bands of ``TEACHING_UNCERTAINTY_BAND``, most uncertain first.
    3. Teaching value, with ``AIORNOT_QUEUE_TEACHING_ORDER`` on: within a band, the lowest
       ``nearest_training_similarity`` first, unknown last. A label teaches the model most where
       it is unsure and where it has seen nothing alike; uncertainty stays the first term, since
       the model's own doubt is measured on the image itself and novelty only through an embedding
       sample of the training data, and a band (rather than a weighted sum of the two) keeps the
       order explainable: among cases the model is about as unsure of, the one unlike its training
       data is the better lesson. With no training index every similarity is unknown and the
       order is exactly uncertainty then age, as with the setting off.
    4. Exact uncertainty, then age (oldest first, then id).

    Annotates ``queue_deadline``, ``queue_uncertainty`` and ``queue_unlike_training`` (nearest
    training image below ``AIORNOT_NOVEL_SIMILARITY``, for the case list's marker).
    """
    soonest_deadline = Subquery(
        Submission.objects.filter(asset_id=OuterRef("asset_id"), collection__deadline__isnull=False)
        .order_by("collection__deadline")
        .values("collection__deadline")[:1]
    )
    in_art_contest = Exists(
        Submission.objects.filter(asset_id=OuterRef("asset_id"), collection__policy=Collection.Policy.ART_CONTEST)
    )
    cases = cases.annotate(
        queue_deadline=soonest_deadline,
        queue_in_art_contest=in_art_contest,
        queue_unlike_training=Case(
            When(nearest_training_similarity__lt=settings.AIORNOT_NOVEL_SIMILARITY, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
    ).annotate(
        queue_uncertainty=Case(
            When(Q(queue_in_art_contest=True, verdict_at_routing=LIKELY_AI), then=Value(0.0)),
            When(p_ai_at_routing__isnull=True, then=Value(0.5)),
            default=Abs(F("p_ai_at_routing") - Value(0.5)),
            output_field=FloatField(),
        )
    )
    order = [F("queue_deadline").asc(nulls_last=True)]
    if getattr(settings, "AIORNOT_QUEUE_TEACHING_ORDER", True):
        band = Floor(F("queue_uncertainty") / Value(TEACHING_UNCERTAINTY_BAND), output_field=FloatField())
        cases = cases.annotate(queue_uncertainty_band=band)
        order += ["queue_uncertainty_band", F("nearest_training_similarity").asc(nulls_last=True)]
    return cases.order_by(*order, "queue_uncertainty", "created_at", "id")


def claimable_for(reviewer, now=None) -> QuerySet[ReviewCase]:
    """Cases this reviewer may claim now (unordered)."""
    now = now or timezone.now()
    cases = ReviewCase.objects.filter(claimable_q(now))
    if not getattr(settings, "AIORNOT_REVIEW_ALLOW_OWN_SUBMISSIONS", False):
        cases = cases.exclude(asset__submissions__submitted_by=reviewer)
    # A second opinion must come from someone else than the first reviewer of this round.
    decided_this_round = ReviewDecision.objects.filter(case=OuterRef("pk"), round=OuterRef("round"), reviewer=reviewer)
    cases = cases.exclude(Exists(decided_this_round))
    skipped = CaseSkip.objects.filter(case=OuterRef("pk"), reviewer=reviewer, until__gt=now)
    return cases.exclude(Exists(skipped))


def queue_counts(*, viewer=None) -> dict:
    """How much work waits.

    ``open`` is every case in the queue (first and second looks alike), split into
    ``claimed`` and ``waiting``; ``escalated`` and ``decided`` count the other statuses.
    ``available_to_you`` (with a viewer) is what that reviewer could claim now. Admins also
    get ``by_status`` with ``awaiting_second`` apart; reviewers do not, so a second look
    cannot be told from a first one.
    """
    now = timezone.now()
    by_status = {status: 0 for status in ReviewCase.Status.values}
    for row in ReviewCase.objects.values("status").annotate(n=Count("id")):
        by_status[row["status"]] = row["n"]
    in_queue = by_status[ReviewCase.Status.OPEN] + by_status[ReviewCase.Status.AWAITING_SECOND]
    claimed = ReviewCase.objects.filter(
        status__in=QUEUE_STATUSES, claimed_by__isnull=False, lease_expires_at__gte=now
    ).count()
    counts = {
        "open": in_queue,
        "claimed": claimed,
        "waiting": in_queue - claimed,
        "escalated": by_status[ReviewCase.Status.ESCALATED],
        "decided": by_status[ReviewCase.Status.DECIDED],
    }
    if viewer is not None:
        counts["available_to_you"] = claimable_for(viewer, now).count()
        if is_site_admin(viewer):
            counts["by_status"] = by_status
    return counts


def case_held_by(reviewer) -> ReviewCase | None:
    """The case this reviewer holds now, if any."""
    return open_cases().filter(claimed_by=reviewer, lease_expires_at__gte=timezone.now()).first()


def escalated_cases() -> QuerySet[ReviewCase]:
    """Cases whose two reviewers disagreed, oldest first, for admins to settle."""
    return queue_ordered(ReviewCase.objects.filter(status=ReviewCase.Status.ESCALATED)).select_related(
        "asset", "first_submission"
    )


def new_escalation_count(viewer) -> int:
    """Escalated cases an admin has not settled yet (for the badge in the navigation)."""
    if viewer is None or not viewer.is_authenticated or not is_site_admin(viewer):
        return 0
    return ReviewCase.objects.filter(status=ReviewCase.Status.ESCALATED).count()


# --- Routing: which scored images go to people -------------------------------------------------


@dataclass(frozen=True)
class MissRateEstimate:
    """How often an image the model scored likely_human is AI, from reviewers' final labels on
    the random check of likely_human images, for one model version; and the check's rate."""

    model_version: str
    labels: int  # sampled likely_human cases decided ai or human ("unsure" tells nothing)
    misses: int  # of which people labelled ai
    ci95_low: float | None
    ci95_high: float | None
    sample_rate: float  # share of likely_human images sent to people now
    floor: float  # AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN
    limit: float  # AIORNOT_REVIEW_MISS_RATE_LIMIT
    min_labels: int  # AIORNOT_REVIEW_MISS_RATE_MIN_LABELS

    @property
    def rate(self) -> float | None:
        return self.misses / self.labels if self.labels else None

    @property
    def enough_labels(self) -> bool:
        return self.labels >= self.min_labels

    @property
    def raised(self) -> bool:
        return self.sample_rate > self.floor


def _sampled_likely_human_labels() -> QuerySet[ReviewCase]:
    return ReviewCase.objects.filter(
        reason=ReviewCase.Reason.SAMPLED,
        verdict_at_routing=LIKELY_HUMAN,
        status=ReviewCase.Status.DECIDED,
        label__in=[Decision.AI, Decision.HUMAN],
    )


def _miss_rate_estimate(model_version: str, labels: int, misses: int) -> MissRateEstimate:
    floor = settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN
    limit = settings.AIORNOT_REVIEW_MISS_RATE_LIMIT
    min_labels = settings.AIORNOT_REVIEW_MISS_RATE_MIN_LABELS
    sample_rate, interval = likely_human_sample_rate(
        floor=floor, misses=misses, labels=labels, limit=limit, min_labels=min_labels
    )
    return MissRateEstimate(
        model_version=model_version, labels=labels, misses=misses,
        ci95_low=interval[0] if interval else None, ci95_high=interval[1] if interval else None,
        sample_rate=sample_rate, floor=floor, limit=limit, min_labels=min_labels,
    )


def likely_human_miss_rate(model_version: str) -> MissRateEstimate:
    """The measured miss rate of one model version and the random-check rate it sets."""
    counts = _sampled_likely_human_labels().filter(model_version_at_routing=model_version).aggregate(
        labels=Count("id"), misses=Count("id", filter=Q(label=Decision.AI))
    )
    return _miss_rate_estimate(model_version, counts["labels"], counts["misses"])


def likely_human_miss_rates(model_versions: list[str] | None = None) -> list[MissRateEstimate]:
    """Miss-rate estimates of every model version with labels on its random check (or of those given)."""
    rows = {
        row["model_version_at_routing"]: (row["labels"], row["misses"])
        for row in _sampled_likely_human_labels()
        .values("model_version_at_routing")
        .annotate(labels=Count("id"), misses=Count("id", filter=Q(label=Decision.AI)))
    }
    versions = list(model_versions) if model_versions is not None else sorted(rows)
    return [_miss_rate_estimate(version, *rows.get(version, (0, 0))) for version in versions]


def routing_reason_for(submission: Submission) -> str:
    """Why this scored submission goes to people, or '' when it does not.

    In order: the collection reviews every entry (art contests by default); evidence besides
    the classifier points to AI (even when the verdict is likely_human: the classifier may be
    the one that is wrong); likely_ai; uncertain; and for likely_human, a random check at the
    rate measured for the model version (likely_human_miss_rate).
    """
    if submission.collection_id and submission.collection.reviews_every_entry:
        return ReviewCase.Reason.REVIEW_EVERY_ENTRY
    findings = (submission.fusion or {}).get("findings", [])
    if any(finding.get("direction") == "ai" for finding in findings):
        return ReviewCase.Reason.EVIDENCE
    if submission.verdict == LIKELY_HUMAN:
        rate = likely_human_miss_rate(submission.model_version).sample_rate
        if sampled_for_review(submission.asset.sha256, rate):
            return ReviewCase.Reason.SAMPLED
        return ""
    if submission.verdict == LIKELY_AI:
        return ReviewCase.Reason.LIKELY_AI
    return ReviewCase.Reason.UNCERTAIN


# --- What people decided, as the submitter may see it ------------------------------------------


@dataclass(frozen=True)
class ReviewOutcome:
    """What people have done about a submitted image, as its submitter may see it."""

    state: str  # not_routed | waiting | in_review | decided | not_scored
    label: str = ""
    label_display: str = ""
    decided_at: datetime | None = None
    case_id: int | None = None
    reason: str = ""  # why the image went to people (ReviewCase.Reason), as stored when routed
    reason_display: str = ""


def submission_outcome(submission: Submission) -> ReviewOutcome:
    """What people have decided about the submitted image, as the submitter may see it."""
    if submission.status != Submission.Status.SCORED:
        return ReviewOutcome(state="not_scored")
    case = ReviewCase.objects.filter(asset_id=submission.asset_id).first()
    if case is None:
        return ReviewOutcome(state="not_routed")
    reason = submission.routing_reason or case.reason
    why = {"reason": reason, "reason_display": str(ReviewCase.Reason(reason).label) if reason in ReviewCase.Reason.values else ""}
    if case.status == ReviewCase.Status.DECIDED:
        return ReviewOutcome(
            state="decided",
            label=case.label,
            label_display=case.get_label_display(),
            decided_at=case.labelled_at,
            case_id=case.pk,
            **why,
        )
    in_review = case.claimed_by_id is not None and case.lease_expires_at and case.lease_expires_at >= timezone.now()
    return ReviewOutcome(state="in_review" if in_review else "waiting", case_id=case.pk, **why)
