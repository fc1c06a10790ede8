"""Every change to review cases goes through these functions, each with its audit event.

No torch here: reviews only read what the detector stored.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from detector.models import Submission, SubmissionEvent
from detector.policy import LIKELY_AI, LIKELY_HUMAN, sampled_for_review

from .models import CaseEvent, Decision, ReviewCase, ReviewDecision


class ReviewError(Exception):
    """A review action that is not allowed now; ``http_status`` is 4xx."""

    def __init__(self, code: str, message: str, http_status: int = 409):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


def _case_event(case: ReviewCase, action: str, actor=None, **data) -> CaseEvent:
    return CaseEvent.objects.create(case=case, action=action, actor=actor, data=data)


def routing_reason_for(submission: Submission) -> str:
    """Why this scored submission goes to people, or '' when it does not."""
    if submission.verdict == LIKELY_HUMAN:
        if sampled_for_review(submission.asset.sha256, settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN):
            return ReviewCase.Reason.SAMPLED
        return ""
    if submission.verdict == LIKELY_AI:
        return ReviewCase.Reason.LIKELY_AI
    return ReviewCase.Reason.UNCERTAIN


def submission_route(*, submission: Submission) -> ReviewCase | None:
    """Open (or join) the image's review case when the routing rules ask for people.

    The machine never labels or rejects anything: it only decides what people look at.
    Call inside the transaction that records the score.
    """
    reason = routing_reason_for(submission)
    existing = ReviewCase.objects.filter(asset_id=submission.asset_id).first()
    if existing is None and not reason:
        submission.routed_to_review = False
        submission.routing_reason = ""
        submission.save(update_fields=["routed_to_review", "routing_reason"])
        SubmissionEvent.objects.create(submission=submission, action="not_routed", data={"verdict": submission.verdict})
        return None
    case = existing
    if case is None:
        case = ReviewCase.objects.create(
            asset_id=submission.asset_id,
            first_submission=submission,
            reason=reason,
            p_ai_at_routing=submission.p_ai,
            verdict_at_routing=submission.verdict,
            model_version_at_routing=submission.model_version,
        )
        _case_event(case, "opened", reason=reason, submission_id=submission.pk, p_ai=submission.p_ai)
    else:
        _case_event(case, "joined", submission_id=submission.pk)
    submission.routed_to_review = True
    submission.routing_reason = case.reason
    submission.save(update_fields=["routed_to_review", "routing_reason"])
    SubmissionEvent.objects.create(
        submission=submission, action="routed_to_review", data={"case_id": case.pk, "reason": case.reason}
    )
    return case


def case_model_reading_update(*, submission: Submission) -> None:
    """After a rescore, an open case shows the model's new reading (decided cases keep theirs)."""
    case = ReviewCase.objects.filter(asset_id=submission.asset_id).exclude(status=ReviewCase.Status.DECIDED).first()
    if case is None or case.first_submission_id != submission.pk:
        return
    before = {"p_ai": case.p_ai_at_routing, "verdict": case.verdict_at_routing, "model_version": case.model_version_at_routing}
    case.p_ai_at_routing = submission.p_ai
    case.verdict_at_routing = submission.verdict
    case.model_version_at_routing = submission.model_version
    case.save(update_fields=["p_ai_at_routing", "verdict_at_routing", "model_version_at_routing"])
    _case_event(case, "rescored", before=before, p_ai=submission.p_ai, verdict=submission.verdict,
                model_version=submission.model_version)


def _lease() -> timedelta:
    return timedelta(minutes=settings.AIORNOT_REVIEW_LEASE_MINUTES)


def _claimable(now) -> Q:
    return Q(status=ReviewCase.Status.OPEN) & (Q(claimed_by__isnull=True) | Q(lease_expires_at__lt=now))


def case_claim_next(*, reviewer) -> ReviewCase | None:
    """Give the reviewer the oldest unclaimed case, or the one they already hold.

    The claim is a conditional UPDATE, so two reviewers can never hold one case, on
    any database.
    """
    now = timezone.now()
    held = ReviewCase.objects.filter(
        status=ReviewCase.Status.OPEN, claimed_by=reviewer, lease_expires_at__gte=now
    ).first()
    if held is not None:
        return held
    candidates = ReviewCase.objects.filter(_claimable(now))
    if not getattr(settings, "AIORNOT_REVIEW_ALLOW_OWN_SUBMISSIONS", False):
        candidates = candidates.exclude(asset__submissions__submitted_by=reviewer)
    for case_id in candidates.order_by("created_at", "id").values_list("id", flat=True)[:50]:
        with transaction.atomic():
            won = ReviewCase.objects.filter(_claimable(now), pk=case_id).update(
                claimed_by=reviewer, claimed_at=now, lease_expires_at=now + _lease()
            )
            if won == 1:
                case = ReviewCase.objects.get(pk=case_id)
                _case_event(case, "claimed", actor=reviewer, lease_expires_at=case.lease_expires_at.isoformat())
                return case
    return None


def case_release(*, case_id: int, reviewer) -> ReviewCase:
    """Hand a claimed case back to the queue."""
    with transaction.atomic():
        case = ReviewCase.objects.select_for_update().filter(pk=case_id).first()
        if case is None:
            raise ReviewError("case_not_found", "There is no such review case.", 404)
        if case.status != ReviewCase.Status.OPEN or case.claimed_by_id != reviewer.pk:
            raise ReviewError("case_not_claimed", "You do not hold this case, so there is nothing to release.")
        case.claimed_by = None
        case.claimed_at = None
        case.lease_expires_at = None
        case.save(update_fields=["claimed_by", "claimed_at", "lease_expires_at"])
        _case_event(case, "released", actor=reviewer)
    return case


def _disagrees_with_model(decision: str, model_verdict: str) -> bool:
    return (decision == Decision.HUMAN and model_verdict == LIKELY_AI) or (
        decision == Decision.AI and model_verdict == LIKELY_HUMAN
    )


def case_decide(*, case_id: int, reviewer, decision: str, note: str = "") -> ReviewDecision:
    """Record the reviewer's decision; it becomes the image's label.

    Only the reviewer holding the claim may decide, once. A decision against the
    model's verdict needs a note, so the disagreement can be understood later.
    """
    if decision not in Decision.values:
        raise ReviewError(
            "invalid_decision", f"Decision must be one of: {', '.join(Decision.values)}.", 400
        )
    note = (note or "").strip()
    with transaction.atomic():
        case = ReviewCase.objects.select_for_update().filter(pk=case_id).first()
        if case is None:
            raise ReviewError("case_not_found", "There is no such review case.", 404)
        if case.status == ReviewCase.Status.DECIDED:
            raise ReviewError("case_already_decided", "This case has already been decided.")
        if case.claimed_by_id != reviewer.pk:
            raise ReviewError(
                "case_not_claimed",
                "Claim this case before deciding it. Your claim may have expired and passed to another reviewer.",
            )
        if _disagrees_with_model(decision, case.verdict_at_routing) and not note:
            raise ReviewError(
                "note_required",
                "Your decision differs from the model's verdict: please add a note explaining why.",
                400,
            )
        now = timezone.now()
        review = ReviewDecision.objects.create(
            case=case,
            reviewer=reviewer,
            decision=decision,
            note=note,
            model_p_ai=case.p_ai_at_routing,
            model_verdict=case.verdict_at_routing,
        )
        case.status = ReviewCase.Status.DECIDED
        case.label = decision
        case.labelled_at = now
        case.claimed_by = None
        case.claimed_at = None
        case.lease_expires_at = None
        case.save()
        _case_event(case, "decided", actor=reviewer, decision=decision, note=note, decision_id=review.pk)
        for submission in Submission.objects.filter(asset_id=case.asset_id):
            SubmissionEvent.objects.create(
                submission=submission, action="review_decided", actor=reviewer, data={"case_id": case.pk, "label": decision}
            )
    return review
