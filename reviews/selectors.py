"""Reads for the review queue and for telling submitters what people decided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from aiornot_site.roles import is_site_admin
from detector.models import Submission

from .models import QUEUE_STATUSES, ReviewCase, ReviewDecision


def open_cases() -> QuerySet[ReviewCase]:
    """Cases in the queue: waiting for a first or a second reviewer."""
    return ReviewCase.objects.filter(status__in=QUEUE_STATUSES).select_related("asset", "claimed_by")


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
        from .services import claimable_for

        counts["available_to_you"] = claimable_for(viewer, now).count()
        if is_site_admin(viewer):
            counts["by_status"] = by_status
    return counts


def case_held_by(reviewer) -> ReviewCase | None:
    return open_cases().filter(claimed_by=reviewer, lease_expires_at__gte=timezone.now()).first()


def case_for_reviewer(*, reviewer, case_id: int) -> ReviewCase | None:
    """A case this reviewer may open.

    The case they hold; any decided case (read-only); a case they decided themselves that
    is not final yet (read-only, showing only their own decision); admins: any case.
    """
    cases = ReviewCase.objects.select_related("asset", "first_submission", "claimed_by").filter(pk=case_id)
    if is_site_admin(reviewer):
        return cases.first()
    return cases.filter(
        Q(claimed_by=reviewer, status__in=QUEUE_STATUSES)
        | Q(status=ReviewCase.Status.DECIDED)
        | Q(decisions__reviewer=reviewer)
    ).distinct().first()


def case_is_held_by(case: ReviewCase, user) -> bool:
    return (
        case.status in QUEUE_STATUSES
        and case.claimed_by_id == user.pk
        and case.lease_expires_at is not None
        and case.lease_expires_at >= timezone.now()
    )


def decisions_visible_to(case: ReviewCase, user) -> list[ReviewDecision]:
    """The decisions on this case that this person may see.

    Everyone sees every decision of a decided case. Before that the review is blind: the
    person holding the case sees none (in a second look they must not learn the first),
    an admin sees all of an escalated case (they settle it), and anyone else sees only
    their own.
    """
    decisions = list(case.decisions.select_related("reviewer").order_by("created_at", "id"))
    if case.status == ReviewCase.Status.DECIDED:
        return decisions
    if case_is_held_by(case, user):
        return []
    if case.status == ReviewCase.Status.ESCALATED and is_site_admin(user):
        return decisions
    return [d for d in decisions if d.reviewer_id == user.pk]


def status_visible_to(case: ReviewCase, user) -> str:
    """The case status as this person may see it: the holder of a second look sees ``open``."""
    if case.status == ReviewCase.Status.AWAITING_SECOND and case_is_held_by(case, user):
        return ReviewCase.Status.OPEN
    return case.status


def case_requeue_reason(case: ReviewCase) -> str:
    """Why an admin re-opened this case (the latest re-opening), or ''."""
    if case.round <= 1:
        return ""
    event = case.events.filter(action="requeued").order_by("-at", "-id").first()
    return (event.data or {}).get("reason", "") if event else ""


def matching_case_outcomes(case: ReviewCase) -> list[dict]:
    """Earlier decisions on other images that this one matches (known-image findings).

    For each finding whose details name a reviewed case: the match line, that case's final
    label and date, and its final round's decisions with notes and reasons. A matched case
    re-opened since has no final label; it is listed as such.
    """
    findings = (case.first_submission.fusion or {}).get("findings", []) if case.first_submission_id else []
    wanted = []
    for finding in findings:
        details = finding.get("details") or {}
        if details.get("origin", "review") != "review":
            continue  # an imported known image (its id is not a case id)
        case_id = details.get("case_id")
        if isinstance(case_id, int) and case_id != case.pk and case_id not in [w[0] for w in wanted]:
            wanted.append((case_id, finding))
    if not wanted:
        return []
    matched = {c.pk: c for c in ReviewCase.objects.filter(pk__in=[w[0] for w in wanted])}
    outcomes = []
    for case_id, finding in wanted:
        other = matched.get(case_id)
        if other is None:
            continue
        final = other.status == ReviewCase.Status.DECIDED
        decisions = (
            list(other.decisions.filter(round=other.round).select_related("reviewer").order_by("created_at", "id"))
            if final
            else []
        )
        outcomes.append(
            {
                "case_id": other.pk,
                "signal": finding.get("signal", ""),
                "line": finding.get("line", ""),
                "final": final,
                "label": other.label if final else "",
                "label_display": other.get_label_display() if final else "",
                "labelled_at": other.labelled_at if final else None,
                "decisions": decisions,
            }
        )
    return outcomes


def reviewer_history_ids(reviewer, limit: int = 500) -> list[int]:
    """Cases this person decided, oldest decision first (their latest ``limit``)."""
    rows = (
        ReviewDecision.objects.filter(reviewer=reviewer)
        .values("case_id")
        .annotate(last=Max("created_at"))
        .order_by("-last", "-case_id")[:limit]
    )
    return [row["case_id"] for row in reversed(list(rows))]


def history_neighbours(reviewer, case: ReviewCase) -> tuple[int | None, int | None]:
    """(previous, next) case in this person's decision history around ``case``.

    From a case not in the history (the one being decided), previous is the latest decided.
    """
    ids = reviewer_history_ids(reviewer)
    if case.pk not in ids:
        return (ids[-1] if ids else None), None
    at = ids.index(case.pk)
    return (ids[at - 1] if at > 0 else None), (ids[at + 1] if at + 1 < len(ids) else None)


def escalated_cases() -> QuerySet[ReviewCase]:
    """Cases whose two reviewers disagreed, oldest first, for admins to settle."""
    from .services import queue_ordered

    return queue_ordered(ReviewCase.objects.filter(status=ReviewCase.Status.ESCALATED)).select_related(
        "asset", "first_submission"
    )


def current_round_decisions(case: ReviewCase) -> list[ReviewDecision]:
    return list(case.decisions.filter(round=case.round).select_related("reviewer").order_by("created_at", "id"))


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
