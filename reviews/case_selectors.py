"""Reads for the review workspace: one case as a reviewer or admin may see it, the case list,
the reviewer's history, and whether their last decision can still be undone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from aiornot_site.roles import is_site_admin
from detector.models import Collection, Submission
from webhooks.models import WebhookDelivery

from .models import QUEUE_STATUSES, ReviewCase, ReviewDecision
from .selectors import queue_ordered

# --- One case --------------------------------------------------------------------------------


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
    """Whether this person holds the case now (claimed, lease not expired)."""
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


def current_round_decisions(case: ReviewCase) -> list[ReviewDecision]:
    """The decisions of the case's current round, oldest first."""
    return list(case.decisions.filter(round=case.round).select_related("reviewer").order_by("created_at", "id"))


def case_needs_second_opinion(case: ReviewCase) -> bool:
    """An AI label needs two agreeing reviewers when the image is in such a collection.

    Any collection the image was submitted to counts (the first submission's and any later
    one's): one label applies to every submission of the image, so the strictest policy wins.
    """
    collections = Collection.objects.filter(submissions__asset_id=case.asset_id).distinct()
    return any(collection.needs_second_opinion for collection in collections)


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


@dataclass(frozen=True)
class CaseContext:
    """What a reviewer needs to know about where a case comes from and why people look at it."""

    collection_name: str
    collection_id: int | None
    policy_display: str
    deadline: datetime | None
    round: int
    stage_display: str  # "" where the viewer must not know (a blind second look)
    reason: str
    reason_display: str


def case_context(case: ReviewCase, viewer) -> CaseContext:
    """Collection, policy, deadline, review round and routing reason of a case.

    The stage (first look or blind second opinion) is shown only to admins: a reviewer who
    knew a case was a second look would know the first reviewer said AI.
    """
    submission = (
        Submission.objects.filter(asset_id=case.asset_id, collection__isnull=False)
        .select_related("collection")
        .order_by(F("collection__deadline").asc(nulls_last=True), "id")
        .first()
    )
    collection = submission.collection if submission else None
    reason = (case.first_submission.routing_reason if case.first_submission_id else "") or case.reason
    stage = ""
    if is_site_admin(viewer):
        stage = str(ReviewCase.Status(case.status).label)
    return CaseContext(
        collection_name=collection.name if collection else "",
        collection_id=collection.pk if collection else None,
        policy_display=collection.get_policy_display() if collection else "",
        deadline=collection.deadline if collection else None,
        round=case.round,
        stage_display=stage,
        reason=reason,
        reason_display=str(ReviewCase.Reason(reason).label) if reason in ReviewCase.Reason.values else "",
    )


# --- The reviewer's history and the last decision's undo -------------------------------------


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


def decision_undo_blocker(review: ReviewDecision) -> str | None:
    """Why this decision can no longer be undone, or None while nothing depends on it.

    Undo is for a slip of the hand just after saving: only the reviewer's latest decision on the
    case, within AIORNOT_REVIEW_UNDO_SECONDS, while no later decision, re-opening or claim by
    someone else builds on it, and before any webhook about the label has been queued (an
    integrator may already act on a sent label; a re-open is the way to correct it then).
    """
    if review.stage == ReviewDecision.Stage.ESCALATION:
        return gettext("An admin's final decision is corrected by re-opening the case.")
    if timezone.now() - review.created_at > timedelta(seconds=settings.AIORNOT_REVIEW_UNDO_SECONDS):
        return gettext("Too late to undo: re-opening the case is the way to correct it now.")
    case = review.case
    if case.round != review.round or case.decisions.filter(id__gt=review.pk).exists():
        return gettext("Someone has decided on this case since.")
    if case.status in QUEUE_STATUSES and case.claimed_by_id and case.claimed_by_id != review.reviewer_id:
        return gettext("Another reviewer is looking at this case now.")
    if WebhookDelivery.objects.filter(case=case, case_round=case.round).exists():
        return gettext("The decision has already been sent to an integration.")
    return None


def undoable_decision(reviewer) -> ReviewDecision | None:
    """This person's latest decision, if it can still be undone (see services.case_decision_undo)."""
    latest = (
        ReviewDecision.objects.filter(reviewer=reviewer)
        .exclude(stage=ReviewDecision.Stage.ESCALATION)
        .select_related("case")
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is None or decision_undo_blocker(latest) is not None:
        return None
    return latest


# --- The case list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseListFilters:
    """Filters of the case list; empty strings mean "any"."""

    state: str = "queue"  # queue | held | escalated | decided | all
    collection: str = ""  # a collection id
    verdict: str = ""  # the model's verdict at routing
    search: str = ""  # case number or file name
    sort: str = "queue"  # queue | oldest | newest | score


CASE_LIST_STATES = ("queue", "held", "escalated", "decided", "all")
CASE_LIST_SORTS = ("queue", "oldest", "newest", "score")


def case_list(*, viewer, filters: CaseListFilters) -> QuerySet[ReviewCase]:
    """The cases a reviewer or admin may list, filtered and sorted.

    Reviewers see the queue and what they decided; admins see every case. The list never
    tells a reviewer which queued case waits for a second opinion (that stays blind).
    """
    now = timezone.now()
    cases = ReviewCase.objects.all()
    if not is_site_admin(viewer):
        cases = cases.filter(
            Q(status__in=QUEUE_STATUSES) | Q(status=ReviewCase.Status.DECIDED, decisions__reviewer=viewer)
        ).distinct()
    if filters.state == "queue":
        cases = cases.filter(status__in=QUEUE_STATUSES)
    elif filters.state == "held":
        cases = cases.filter(status__in=QUEUE_STATUSES, claimed_by__isnull=False, lease_expires_at__gte=now)
    elif filters.state == "escalated":
        cases = cases.filter(status=ReviewCase.Status.ESCALATED)
    elif filters.state == "decided":
        cases = cases.filter(status=ReviewCase.Status.DECIDED)
    if filters.collection.isdigit():
        cases = cases.filter(asset__submissions__collection_id=int(filters.collection)).distinct()
    if filters.verdict:
        cases = cases.filter(verdict_at_routing=filters.verdict)
    search = filters.search.strip().lstrip("#")
    if search:
        match = Q(asset__submissions__original_filename__icontains=search)
        if search.isdigit():
            match |= Q(pk=int(search))
        cases = cases.filter(match).distinct()
    cases = queue_ordered(cases).select_related("asset", "first_submission__collection", "claimed_by")
    if filters.sort == "oldest":
        cases = cases.order_by("created_at", "id")
    elif filters.sort == "newest":
        cases = cases.order_by("-created_at", "-id")
    elif filters.sort == "score":
        cases = cases.order_by(F("p_ai_at_routing").desc(nulls_last=True), "id")
    return cases


def case_list_collections(viewer) -> list[tuple[int, str]]:
    """(id, name) of the collections that have cases, for the case list's filter."""
    ids = Submission.objects.filter(asset__review_case__isnull=False, collection__isnull=False).values("collection_id")
    return list(Collection.objects.filter(pk__in=ids).order_by("name").values_list("pk", "name"))


def case_visible_in_list(*, viewer, case_id: int) -> ReviewCase | None:
    """A case whose thumbnail this person may see: one they could find in their case list."""
    return case_list(viewer=viewer, filters=CaseListFilters(state="all")).filter(pk=case_id).first()
