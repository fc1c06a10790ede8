"""Every change to review cases goes through these functions, each with its audit event.

No torch here: reviews only read what the detector stored. Reads: ``selectors`` (the queue,
routing) and ``case_selectors`` (one case, the case list).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from aiornot_site.errors import ServiceError
from aiornot_site.roles import is_site_admin
from aiornot_site.write_retry import retry_write_collisions
from detector.models import Submission, SubmissionEvent
from detector.novelty import asset_novelty
from detector.policy import LIKELY_AI, LIKELY_HUMAN
from webhooks.services import webhooks_case_finalized

from .case_selectors import case_needs_second_opinion, decision_undo_blocker
from .models import QUEUE_STATUSES, CaseEvent, CaseSkip, Decision, ReasonCode, ReviewCase, ReviewDecision
from .selectors import claimable_for, claimable_q, held_q, likely_human_miss_rate, queue_ordered, routing_reason_for


logger = logging.getLogger(__name__)


class ReviewError(ServiceError):
    """A review action that is not allowed now; ``http_status`` is 4xx (409 unless given)."""

    default_http_status = 409


def _case_event(case: ReviewCase, action: str, actor=None, **data) -> CaseEvent:
    return CaseEvent.objects.create(case=case, action=action, actor=actor, data=data)


def _nearest_training_similarity(asset) -> float | None:
    """How close the image is to the training data (detector.novelty: numpy, no torch), for the
    queue's teaching order; None when it cannot be told. Never stops routing."""
    try:
        novelty = asset_novelty(asset)
    except Exception:
        logger.exception("Similarity to the training data failed for asset %s", getattr(asset, "pk", asset))
        return None
    return novelty.nearest_similarity if novelty else None


def submission_route(*, submission: Submission) -> ReviewCase | None:
    """Open (or join) the image's review case when the routing rules ask for people.

    The machine never labels or rejects anything: it only decides what people look at.
    Who goes to people: selectors.routing_reason_for. Call inside the transaction that records the score.
    """
    reason = routing_reason_for(submission)
    existing = ReviewCase.objects.filter(asset_id=submission.asset_id).first()
    if existing is None and not reason:
        submission.routed_to_review = False
        submission.routing_reason = ""
        submission.save(update_fields=["routed_to_review", "routing_reason"])
        SubmissionEvent.objects.create(
            submission=submission, action="not_routed",
            data={"verdict": submission.verdict, "sample_rate": likely_human_miss_rate(submission.model_version).sample_rate},
        )
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
            nearest_training_similarity=_nearest_training_similarity(submission.asset),
        )
        _case_event(case, "opened", reason=reason, submission_id=submission.pk, p_ai=submission.p_ai,
                    nearest_training_similarity=case.nearest_training_similarity)
    else:
        _case_event(case, "joined", submission_id=submission.pk)
    submission.routed_to_review = True
    submission.routing_reason = reason or case.reason
    submission.save(update_fields=["routed_to_review", "routing_reason"])
    SubmissionEvent.objects.create(
        submission=submission, action="routed_to_review",
        data={"case_id": case.pk, "reason": submission.routing_reason},
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
    case.nearest_training_similarity = _nearest_training_similarity(submission.asset)
    case.save(update_fields=["p_ai_at_routing", "verdict_at_routing", "model_version_at_routing",
                             "nearest_training_similarity"])
    _case_event(case, "rescored", before=before, p_ai=submission.p_ai, verdict=submission.verdict,
                model_version=submission.model_version)


def cases_training_similarity_refresh() -> int:
    """Measure again how close each queued or escalated case's image is to the training data (after
    ``index_training_embeddings`` wrote a new index, e.g. for a promoted model); returns how many
    changed. No audit event: it orders the queue and decides nothing."""
    changed = 0
    for case in ReviewCase.objects.exclude(status=ReviewCase.Status.DECIDED).select_related("asset").iterator():
        similarity = _nearest_training_similarity(case.asset)
        if similarity != case.nearest_training_similarity:
            changed += ReviewCase.objects.filter(pk=case.pk).update(nearest_training_similarity=similarity)
    return changed


def _lease() -> timedelta:
    return timedelta(minutes=settings.AIORNOT_REVIEW_LEASE_MINUTES)


def _clear_claim(case: ReviewCase) -> None:
    case.claimed_by = None
    case.claimed_at = None
    case.lease_expires_at = None


@retry_write_collisions
def case_claim_next(*, reviewer) -> ReviewCase | None:
    """Give the reviewer the case they already hold, or claim the next one in queue order.

    Claimable: status ``open`` or ``awaiting_second``, unclaimed or with an expired lease,
    not submitted by this reviewer, not already decided by this reviewer in the current
    round (a second opinion is independent), and not skipped by this reviewer within
    ``AIORNOT_REVIEW_SKIP_HOURS``.

    Order, first criterion first:

    1. **Deadline**: the soonest ``deadline`` among the collections the image was submitted
       to (a past deadline is the most urgent); cases with no deadline come last.
    2. **Need of a person**, smallest first: ``|p_ai_at_routing - 0.5|``, so the cases the
       model is least sure about come first, except that a case the model read
       ``likely_ai`` for an image entered in an art contest counts as 0 (as uncertain as it
       gets): an entrant is waiting under "Under review" and an AI label there must be
       confirmed by people. A case with no score counts as 0.5 (last).
    3. **Teaching value** (``AIORNOT_QUEUE_TEACHING_ORDER``, on by default): among comparably
       uncertain cases (the same 0.05-wide band of step 2), the image least similar to the
       training data first; exact uncertainty breaks ties. See ``selectors.queue_ordered``.
    4. **Age**: oldest case first (``created_at``, then id).

    Cases waiting for a second opinion follow the same order and are not marked to the
    reviewer, so the second look stays blind.

    The claim is a conditional UPDATE (still claimable at that instant), so two reviewers
    can never hold one case, on any database. The "already holding one?" check and the claim
    are one transaction that first locks the reviewer's own user row, so one reviewer's
    concurrent claims (two tabs, a double click, a script) take turns and all get the same
    case: on PostgreSQL the row lock serialises them, on SQLite every transaction takes the
    write lock at BEGIN (settings: ``transaction_mode`` IMMEDIATE).
    """
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=reviewer.pk).values_list("pk").first()
        now = timezone.now()
        held = ReviewCase.objects.filter(held_q(reviewer, now)).first()
        if held is not None:
            return held
        for case_id in queue_ordered(claimable_for(reviewer, now)).values_list("id", flat=True)[:50]:
            won = ReviewCase.objects.filter(claimable_q(now), pk=case_id).update(
                claimed_by=reviewer, claimed_at=now, lease_expires_at=now + _lease()
            )
            if won == 1:
                case = ReviewCase.objects.get(pk=case_id)
                _case_event(case, "claimed", actor=reviewer, lease_expires_at=case.lease_expires_at.isoformat())
                return case
    return None


def _case_locked(case_id: int) -> ReviewCase:
    case = ReviewCase.objects.select_for_update().filter(pk=case_id).first()
    if case is None:
        raise ReviewError("case_not_found", gettext("There is no such review case."), 404)
    return case


def _held_by(case: ReviewCase, reviewer) -> bool:
    return case.status in QUEUE_STATUSES and case.claimed_by_id == reviewer.pk


def case_release(*, case_id: int, reviewer) -> ReviewCase:
    """Hand a claimed case back to the queue."""
    with transaction.atomic():
        case = _case_locked(case_id)
        if not _held_by(case, reviewer):
            raise ReviewError("case_not_claimed", gettext("You do not hold this case, so there is nothing to release."))
        _clear_claim(case)
        case.save(update_fields=["claimed_by", "claimed_at", "lease_expires_at"])
        _case_event(case, "released", actor=reviewer)
    return case


def case_skip(*, case_id: int, reviewer) -> ReviewCase:
    """Hand a claimed case back and do not offer it to this reviewer again for a while.

    Others can claim it at once; this reviewer gets it again after
    ``AIORNOT_REVIEW_SKIP_HOURS`` (when nobody else has decided it by then).
    """
    with transaction.atomic():
        case = _case_locked(case_id)
        if not _held_by(case, reviewer):
            raise ReviewError("case_not_claimed", gettext("You do not hold this case, so there is nothing to skip."))
        until = timezone.now() + timedelta(hours=settings.AIORNOT_REVIEW_SKIP_HOURS)
        _clear_claim(case)
        case.save(update_fields=["claimed_by", "claimed_at", "lease_expires_at"])
        CaseSkip.objects.create(case=case, reviewer=reviewer, until=until)
        _case_event(case, "skipped", actor=reviewer, until=until.isoformat())
    return case


def _disagrees_with_model(decision: str, model_verdict: str) -> bool:
    return (decision == Decision.HUMAN and model_verdict == LIKELY_AI) or (
        decision == Decision.AI and model_verdict == LIKELY_HUMAN
    )


def reason_codes_clean(reason_codes) -> list[str]:
    """The given reason codes, known ones only, without repeats, in the fixed list's order."""
    given = [str(code).strip() for code in (reason_codes or []) if str(code).strip()]
    unknown = sorted(set(given) - set(ReasonCode.values))
    if unknown:
        raise ReviewError(
            "invalid_reason_code",
            gettext("Unknown reason code(s): %(unknown)s. Use any of: %(known)s.") % {
                "unknown": ", ".join(unknown), "known": ", ".join(ReasonCode.values),
            },
            400,
        )
    return [code for code in ReasonCode.values if code in given]


def _decision_input_check(*, case: ReviewCase, decision: str, note: str, reason_codes: list[str]) -> None:
    if _disagrees_with_model(decision, case.verdict_at_routing) and not note:
        raise ReviewError(
            "note_required",
            gettext("Your decision differs from the model's verdict: please add a note explaining why."),
            400,
        )
    if ReasonCode.OTHER in reason_codes and not note:
        raise ReviewError("note_required", gettext("You chose the reason \"Other\": please explain it in the note."), 400)


def _decision_record(*, case: ReviewCase, reviewer, decision: str, note: str, reason_codes: list[str], stage: str):
    return ReviewDecision.objects.create(
        case=case,
        reviewer=reviewer,
        decision=decision,
        note=note,
        reason_codes=reason_codes,
        stage=stage,
        round=case.round,
        model_p_ai=case.p_ai_at_routing,
        model_verdict=case.verdict_at_routing,
    )


def _decided_event(case: ReviewCase, review: ReviewDecision, *, final: bool) -> None:
    _case_event(
        case,
        "decided",
        actor=review.reviewer,
        decision=review.decision,
        note=review.note,
        reason_codes=review.reason_codes,
        decision_id=review.pk,
        stage=review.stage,
        round=review.round,
        final=final,
    )


def label_finalise(*, case: ReviewCase, label: str, actor) -> None:
    """Make ``label`` the image's final label (call inside the deciding transaction).

    Sets the label, marks the case decided, tells every submission of the image, and
    queues the webhook once the transaction commits.
    """
    case.status = ReviewCase.Status.DECIDED
    case.label = label
    case.labelled_at = timezone.now()
    _clear_claim(case)
    case.save()
    for submission in Submission.objects.filter(asset_id=case.asset_id):
        SubmissionEvent.objects.create(
            submission=submission, action="review_decided", actor=actor, data={"case_id": case.pk, "label": label}
        )
    case_id = case.pk
    transaction.on_commit(lambda: webhooks_case_finalized(case_id=case_id))


@retry_write_collisions
def case_decide(*, case_id: int, reviewer, decision: str, note: str = "", reason_codes=()) -> ReviewDecision:
    """Record the decision of the reviewer holding the case.

    ``human`` and ``unsure`` are final at once and become the image's label. ``ai`` is final
    at once too, unless the image is in a collection that needs a second opinion: then the
    case goes back to the queue (``awaiting_second``) for a different reviewer, who does not
    see this decision. That second reviewer's ``ai`` makes the label final; any other
    decision escalates the case to an admin (``escalated``).

    A decision against the model's verdict, or with the reason code ``other``, needs a note.
    """
    if decision not in Decision.values:
        raise ReviewError(
            "invalid_decision", gettext("Decision must be one of: %(choices)s.") % {"choices": ", ".join(Decision.values)}, 400
        )
    note = (note or "").strip()
    codes = reason_codes_clean(reason_codes)
    with transaction.atomic():
        case = _case_locked(case_id)
        if case.status == ReviewCase.Status.DECIDED:
            raise ReviewError("case_already_decided", gettext("This case has already been decided."))
        if case.status == ReviewCase.Status.ESCALATED:
            raise ReviewError("case_escalated", gettext("Reviewers disagreed on this case: an admin decides it now."))
        if case.claimed_by_id != reviewer.pk:
            raise ReviewError(
                "case_not_claimed",
                gettext("Claim this case before deciding it. Your claim may have expired and passed to another reviewer."),
            )
        _decision_input_check(case=case, decision=decision, note=note, reason_codes=codes)

        if case.status == ReviewCase.Status.OPEN:
            review = _decision_record(
                case=case, reviewer=reviewer, decision=decision, note=note, reason_codes=codes,
                stage=ReviewDecision.Stage.REVIEW,
            )
            if decision == Decision.AI and case_needs_second_opinion(case):
                case.status = ReviewCase.Status.AWAITING_SECOND
                _clear_claim(case)
                case.save()
                _decided_event(case, review, final=False)
                _case_event(case, "second_opinion_requested", actor=reviewer, first_decision_id=review.pk)
            else:
                label_finalise(case=case, label=decision, actor=reviewer)
                _decided_event(case, review, final=True)
            return review

        # awaiting_second: this is the independent second look.
        if case.decisions.filter(round=case.round, reviewer=reviewer).exists():
            raise ReviewError(
                "not_independent", gettext("A second opinion must come from another reviewer than the first."), 409
            )
        review = _decision_record(
            case=case, reviewer=reviewer, decision=decision, note=note, reason_codes=codes,
            stage=ReviewDecision.Stage.SECOND_OPINION,
        )
        if decision == Decision.AI:
            label_finalise(case=case, label=decision, actor=reviewer)
            _decided_event(case, review, final=True)
        else:
            first = case.decisions.filter(round=case.round, stage=ReviewDecision.Stage.REVIEW).order_by("-id").first()
            case.status = ReviewCase.Status.ESCALATED
            _clear_claim(case)
            case.save()
            _decided_event(case, review, final=False)
            _case_event(
                case, "escalated", actor=reviewer,
                first_decision_id=first.pk if first else None, second_decision_id=review.pk,
            )
    return review


def _admin_check(user, message) -> None:
    """``message`` is the whole refusal ("Only admins may ..."), lazily translated."""
    if not is_site_admin(user):
        raise ReviewError("permission_denied", str(message), 403)


def case_escalation_decide(
    *, case_id: int, admin, decision: str, note: str = "", reason_codes=()
) -> ReviewDecision:
    """An admin settles a case whose two reviewers disagreed; the decision is final.

    The admin must not be one of the case's reviewers in this round, nor a submitter of the
    image: the point of escalating is a third, independent person.
    """
    _admin_check(admin, gettext_lazy("Only admins may decide escalated cases."))
    if decision not in Decision.values:
        raise ReviewError("invalid_decision", gettext("Decision must be one of: %(choices)s.") % {"choices": ", ".join(Decision.values)}, 400)
    note = (note or "").strip()
    codes = reason_codes_clean(reason_codes)
    with transaction.atomic():
        case = _case_locked(case_id)
        if case.status == ReviewCase.Status.DECIDED:
            raise ReviewError("case_already_decided", gettext("This case has already been decided."))
        if case.status != ReviewCase.Status.ESCALATED:
            raise ReviewError("case_not_escalated", gettext("This case is not waiting for an admin's decision."))
        if case.decisions.filter(round=case.round, reviewer=admin).exists():
            raise ReviewError(
                "not_independent", gettext("You reviewed this case yourself: another admin must settle it."), 409
            )
        if Submission.objects.filter(asset_id=case.asset_id, submitted_by=admin).exists():
            raise ReviewError("not_independent", gettext("You submitted this image: another admin must settle it."), 409)
        _decision_input_check(case=case, decision=decision, note=note, reason_codes=codes)
        review = _decision_record(
            case=case, reviewer=admin, decision=decision, note=note, reason_codes=codes,
            stage=ReviewDecision.Stage.ESCALATION,
        )
        label_finalise(case=case, label=decision, actor=admin)
        _decided_event(case, review, final=True)
    return review


def case_requeue(*, case_id: int, admin, reason: str) -> ReviewCase:
    """An admin re-opens a decided case for correction.

    The label is cleared until people decide again; the earlier decisions stay (a new
    round starts), and the reason is kept in the audit trail and shown to the next reviewer.
    """
    _admin_check(admin, gettext_lazy("Only admins may re-open decided cases."))
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError("reason_required", gettext("Say why this case is re-opened."), 400)
    with transaction.atomic():
        case = _case_locked(case_id)
        if case.status != ReviewCase.Status.DECIDED:
            raise ReviewError("case_not_decided", gettext("Only a decided case can be re-opened for correction."))
        previous_label, previous_labelled_at = case.label, case.labelled_at
        case.status = ReviewCase.Status.OPEN
        case.label = ""
        case.labelled_at = None
        case.round += 1
        _clear_claim(case)
        case.save()
        _case_event(
            case, "requeued", actor=admin, reason=reason, previous_label=previous_label,
            previous_labelled_at=previous_labelled_at.isoformat() if previous_labelled_at else None, round=case.round,
        )
        for submission in Submission.objects.filter(asset_id=case.asset_id):
            SubmissionEvent.objects.create(
                submission=submission, action="review_reopened", actor=admin,
                data={"case_id": case.pk, "previous_label": previous_label, "reason": reason},
            )
    return case


@retry_write_collisions
def case_decision_undo(*, decision_id: int, reviewer) -> ReviewCase:
    """Take back the reviewer's last decision: the case is theirs to decide again.

    The decision row is removed (its content stays in the audit trail as ``decision_undone``),
    the case returns to the state it had before (``open`` or ``awaiting_second``, no label),
    and the reviewer holds it again; a case they had claimed since goes back to the queue, so
    nobody ever holds two.
    """
    with transaction.atomic():
        review = ReviewDecision.objects.select_related("case").filter(pk=decision_id, reviewer=reviewer).first()
        if review is None:
            raise ReviewError("not_found", gettext("No such decision of yours."), 404)
        case = _case_locked(review.case_id)
        review.case = case
        blocker = decision_undo_blocker(review)
        if blocker:
            raise ReviewError("undo_not_possible", blocker, 409)
        now = timezone.now()
        for other in ReviewCase.objects.filter(held_q(reviewer, now)).exclude(pk=case.pk):
            _clear_claim(other)
            other.save()
            _case_event(other, "released", actor=reviewer, why="undo_of_another_decision")
        was_final = case.status == ReviewCase.Status.DECIDED
        case.status = (
            ReviewCase.Status.AWAITING_SECOND
            if review.stage == ReviewDecision.Stage.SECOND_OPINION
            else ReviewCase.Status.OPEN
        )
        case.label = ""
        case.labelled_at = None
        case.claimed_by = reviewer
        case.claimed_at = now
        case.lease_expires_at = now + _lease()
        case.save()
        _case_event(
            case, "decision_undone", actor=reviewer, decision_id=review.pk, decision=review.decision,
            note=review.note, reason_codes=review.reason_codes, stage=review.stage, round=review.round,
            was_final=was_final,
        )
        if was_final:
            for submission in Submission.objects.filter(asset_id=case.asset_id):
                SubmissionEvent.objects.create(
                    submission=submission, action="review_decision_undone", actor=reviewer, data={"case_id": case.pk}
                )
        review.delete()
    return case
