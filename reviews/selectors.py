"""Reads for the review queue and for telling submitters what people decided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, F, Max, Q, QuerySet
from django.utils import timezone

from aiornot_site.roles import is_site_admin
from detector.models import Submission
from detector.policy import LIKELY_HUMAN, likely_human_sample_rate

from .models import QUEUE_STATUSES, Decision, ReviewCase, ReviewDecision


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


@dataclass(frozen=True)
class ReviewOutcome:
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


# --- The review workspace: what a case is about, the case list, and the last decision's undo ---


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
    from .services import queue_ordered

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
    from detector.models import Collection

    ids = Submission.objects.filter(asset__review_case__isnull=False, collection__isnull=False).values("collection_id")
    return list(Collection.objects.filter(pk__in=ids).order_by("name").values_list("pk", "name"))


def case_visible_in_list(*, viewer, case_id: int) -> ReviewCase | None:
    """A case whose thumbnail this person may see: one they could find in their case list."""
    return case_list(viewer=viewer, filters=CaseListFilters(state="all")).filter(pk=case_id).first()


def new_escalation_count(viewer) -> int:
    """Escalated cases an admin has not settled yet (for the badge in the navigation)."""
    if viewer is None or not viewer.is_authenticated or not is_site_admin(viewer):
        return 0
    return ReviewCase.objects.filter(status=ReviewCase.Status.ESCALATED).count()


def undoable_decision(reviewer) -> ReviewDecision | None:
    """This person's latest decision, if it can still be undone (see services.case_decision_undo)."""
    from .services import decision_undo_blocker

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
