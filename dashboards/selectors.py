"""Reads for the admin dashboards: every figure is a database aggregate, never a loop over rows.

Each function takes a ``DashboardFilters`` (date range, collection, model version) and returns
plain data (dicts, lists, numbers, dates) that the page draws and ``export.json`` serialises.
What each figure means and exactly how it is computed: docs/dashboards.md.

Conventions used throughout:

* A case is **in the queue** while its status is anything but ``decided`` (open, awaiting a
  second reviewer, escalated, ...). It **left the queue** when it was decided (``labelled_at``).
* A **final label** is the label of a decided case (``ai``, ``human`` or ``unsure``).
* The **model's verdict** compared with a label is the case's ``verdict_at_routing``: what the
  reviewer was shown (open cases follow a rescore; decided cases keep what was shown).
* A case belongs to the collection of the submission that opened it (``first_submission``).
* The date range selects submissions by ``created_at``, decisions by ``created_at`` and final
  labels by ``labelled_at``; both ends are whole days in the site's time zone, inclusive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Avg, Case, CharField, Count, F, FloatField, Max, Min, Q, QuerySet, Value, When
from django.db.models.functions import Floor, Least, TruncDate, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext_lazy

from detector.models import Collection, Submission, Verdict
from detector.policy import wilson_interval
from registry.models import ModelVersion
from reviews import selectors as reviews_selectors
from reviews.models import Decision, ReviewCase, ReviewDecision

LIKELY_AI, UNCERTAIN, LIKELY_HUMAN = Verdict.LIKELY_AI, Verdict.UNCERTAIN, Verdict.LIKELY_HUMAN
VERDICTS = [LIKELY_AI, UNCERTAIN, LIKELY_HUMAN]
LABELS = [Decision.AI, Decision.HUMAN, Decision.UNSURE]
DECIDED = ReviewCase.Status.DECIDED

DEFAULT_SERIES_DAYS = 30
MAX_SERIES_DAYS = 366
CALIBRATION_BINS = 10
HISTOGRAM_BINS = 20

# (key, lower bound, upper bound) of a waiting case's age; None is open-ended.
AGE_BUCKETS = [
    ("under_1h", None, timedelta(hours=1)),
    ("1h_to_24h", timedelta(hours=1), timedelta(hours=24)),
    ("1d_to_3d", timedelta(days=1), timedelta(days=3)),
    ("3d_to_7d", timedelta(days=3), timedelta(days=7)),
    ("over_7d", timedelta(days=7), None),
]
AGE_BUCKET_LABELS = {
    "under_1h": gettext_lazy("under 1 hour"),
    "1h_to_24h": gettext_lazy("1 to 24 hours"),
    "1d_to_3d": gettext_lazy("1 to 3 days"),
    "3d_to_7d": gettext_lazy("3 to 7 days"),
    "over_7d": gettext_lazy("over 7 days"),
}


@dataclass(frozen=True)
class DashboardFilters:
    date_from: date | None = None
    date_to: date | None = None
    collection_id: int | None = None
    model_version: str = ""
    per: str = "day"  # throughput period: day | week

    def start(self) -> datetime | None:
        return _day_start(self.date_from) if self.date_from else None

    def end(self) -> datetime | None:
        """Exclusive: the start of the day after ``date_to``."""
        return _day_start(self.date_to + timedelta(days=1)) if self.date_to else None

    def as_dict(self) -> dict:
        return asdict(self)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _in_range(field: str, filters: DashboardFilters) -> Q:
    q = Q()
    if filters.start():
        q &= Q(**{f"{field}__gte": filters.start()})
    if filters.end():
        q &= Q(**{f"{field}__lt": filters.end()})
    return q


# --- Base querysets ------------------------------------------------------------------------------


def _scored_submissions(filters: DashboardFilters) -> QuerySet[Submission]:
    qs = Submission.objects.filter(status=Submission.Status.SCORED, p_ai__isnull=False)
    qs = qs.filter(_in_range("created_at", filters))
    if filters.collection_id:
        qs = qs.filter(collection_id=filters.collection_id)
    if filters.model_version:
        qs = qs.filter(model_version=filters.model_version)
    return qs


def _cases(filters: DashboardFilters) -> QuerySet[ReviewCase]:
    """Cases in the chosen collection and model version (no date condition)."""
    qs = ReviewCase.objects.all()
    if filters.collection_id:
        qs = qs.filter(first_submission__collection_id=filters.collection_id)
    if filters.model_version:
        qs = qs.filter(model_version_at_routing=filters.model_version)
    return qs


def _waiting_cases(filters: DashboardFilters) -> QuerySet[ReviewCase]:
    return _cases(filters).exclude(status=DECIDED)


def _labelled_cases(filters: DashboardFilters) -> QuerySet[ReviewCase]:
    """Decided cases with a final label, labelled within the date range."""
    return _cases(filters).filter(status=DECIDED).exclude(label="").filter(_in_range("labelled_at", filters))


def _decisions(filters: DashboardFilters) -> QuerySet[ReviewDecision]:
    qs = ReviewDecision.objects.filter(_in_range("created_at", filters))
    if filters.collection_id:
        qs = qs.filter(case__first_submission__collection_id=filters.collection_id)
    if filters.model_version:
        qs = qs.filter(case__model_version_at_routing=filters.model_version)
    return qs


# --- Statistics ----------------------------------------------------------------------------------


def rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def cohen_kappa(both_ai: int, model_ai_people_human: int, model_human_people_ai: int, both_human: int) -> float | None:
    """Cohen's kappa of a 2x2 table (model likely_ai / likely_human vs label ai / human)."""
    n = both_ai + model_ai_people_human + model_human_people_ai + both_human
    if n == 0:
        return None
    observed = (both_ai + both_human) / n
    model_ai, people_ai = both_ai + model_ai_people_human, both_ai + model_human_people_ai
    expected = (model_ai * people_ai + (n - model_ai) * (n - people_ai)) / (n * n)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def _fpr_figure(human: int, false_positives: int) -> dict:
    interval = wilson_interval(false_positives, human)
    return {
        "human_labelled": human,
        "false_positives": false_positives,
        "rate": rate(false_positives, human),
        "ci95_low": interval[0] if interval else None,
        "ci95_high": interval[1] if interval else None,
    }


_HUMAN = Q(label=Decision.HUMAN)
_FALSE_POSITIVE = Q(label=Decision.HUMAN, verdict_at_routing=LIKELY_AI)
_DECISIVE = Q(label__in=[Decision.AI, Decision.HUMAN], verdict_at_routing__in=[LIKELY_AI, LIKELY_HUMAN])
_AGREES = Q(label=Decision.AI, verdict_at_routing=LIKELY_AI) | Q(label=Decision.HUMAN, verdict_at_routing=LIKELY_HUMAN)


def _bin(field: str, bins: int):
    """Which of ``bins`` equal-width bins of [0, 1] a probability falls in (1.0 goes in the last)."""
    return Least(Floor(F(field) * float(bins)), Value(float(bins - 1)), output_field=FloatField())


# --- Figures -------------------------------------------------------------------------------------


def false_positive_rate(filters: DashboardFilters) -> dict:
    """Share of images people labelled human-made that the model had scored likely_ai (headline)."""
    counts = _labelled_cases(filters).aggregate(
        human=Count("id", filter=_HUMAN),
        false_positives=Count("id", filter=_FALSE_POSITIVE),
        human_uncertain=Count("id", filter=Q(label=Decision.HUMAN, verdict_at_routing=UNCERTAIN)),
    )
    figure = _fpr_figure(counts["human"], counts["false_positives"])
    figure["human_scored_uncertain"] = counts["human_uncertain"]
    return figure


def queue_now(filters: DashboardFilters, now: datetime | None = None) -> dict:
    """Cases waiting for people now, and how long they have waited (date range not applied)."""
    now = now or timezone.now()
    waiting = _waiting_cases(filters)
    bucket_counts = {}
    for key, low, high in AGE_BUCKETS:
        q = Q()
        if low is not None:
            q &= Q(created_at__lte=now - low)
        if high is not None:
            q &= Q(created_at__gt=now - high)
        bucket_counts[key] = Count("id", filter=q)
    counts = waiting.aggregate(
        total=Count("id"),
        oldest=Min("created_at"),
        claimed=Count("id", filter=Q(claimed_by__isnull=False, lease_expires_at__gte=now)),
        **bucket_counts,
    )
    total = counts["total"]
    median_age = None
    if total:
        # The middle one or two rows by created_at: an indexed ORDER BY ... OFFSET, not a scan in Python.
        ordered = waiting.order_by("created_at", "id").values_list("created_at", flat=True)
        middle = list(ordered[(total - 1) // 2 : total // 2 + 1])
        median_age = sum(((now - at).total_seconds() for at in middle), 0.0) / len(middle)
    by_status = [
        {"status": row["status"], "label": _status_label(row["status"]), "count": row["n"]}
        for row in waiting.values("status").annotate(n=Count("id")).order_by("status")
    ]
    return {
        "total": total,
        "claimed": counts["claimed"],
        "unclaimed": total - counts["claimed"],
        "oldest_created_at": counts["oldest"],
        "oldest_age_seconds": (now - counts["oldest"]).total_seconds() if counts["oldest"] else None,
        "median_age_seconds": median_age,
        "age_buckets": [
            {"bucket": key, "label": str(AGE_BUCKET_LABELS[key]), "count": counts[key]} for key, _, _ in AGE_BUCKETS
        ],
        "by_status": by_status,
        "measured_at": now,
    }


def _status_label(status: str) -> str:
    try:
        return str(ReviewCase.Status(status).label)
    except ValueError:
        return status.replace("_", " ")


def series_window(filters: DashboardFilters, today: date | None = None) -> tuple[date, date]:
    """The days the over-time charts cover: the date range, else the last 30 days (at most 366)."""
    today = today or timezone.localdate()
    last = filters.date_to or max(today, filters.date_from or today)
    first = filters.date_from or last - timedelta(days=DEFAULT_SERIES_DAYS - 1)
    if first > last:
        first = last
    if (last - first).days >= MAX_SERIES_DAYS:
        first = last - timedelta(days=MAX_SERIES_DAYS - 1)
    return first, last


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def queue_depth_series(filters: DashboardFilters, today: date | None = None) -> dict:
    """Cases waiting at the end of each day: opened so far minus decided so far.

    Three queries whatever the number of cases: the depth at the start of the window, then
    cases opened and cases decided per day inside it (GROUP BY date).
    """
    first, last = series_window(filters, today)
    start, end = _day_start(first), _day_start(last + timedelta(days=1))
    cases = _cases(filters)
    left = Q(status=DECIDED, labelled_at__isnull=False)
    before = cases.aggregate(
        opened=Count("id", filter=Q(created_at__lt=start)),
        decided=Count("id", filter=left & Q(labelled_at__lt=start)),
    )
    opened = dict(
        cases.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    decided = dict(
        cases.filter(left, labelled_at__gte=start, labelled_at__lt=end)
        .annotate(day=TruncDate("labelled_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    depth = before["opened"] - before["decided"]
    points = []
    for day in _days(first, last):
        depth += opened.get(day, 0) - decided.get(day, 0)
        points.append({"date": day, "opened": opened.get(day, 0), "decided": decided.get(day, 0), "depth": depth})
    return {"first": first, "last": last, "points": points}


def throughput(filters: DashboardFilters, today: date | None = None) -> dict:
    """Decisions per reviewer per day (or week) over the series window, and per-reviewer totals."""
    first, last = series_window(filters, today)
    window = DashboardFilters(
        date_from=first, date_to=last, collection_id=filters.collection_id, model_version=filters.model_version
    )
    decisions = _decisions(window)
    weekly = filters.per == "week"
    if weekly:
        periods = sorted({day - timedelta(days=day.weekday()) for day in _days(first, last)})
        bucket = TruncWeek("created_at")
    else:
        periods = _days(first, last)
        bucket = TruncDate("created_at")
    rows = decisions.annotate(period=bucket).values("reviewer_id", "period").annotate(n=Count("id"))
    per_reviewer_period: dict[int, dict[date, int]] = {}
    for row in rows:
        period = row["period"]
        if isinstance(period, datetime):
            period = timezone.localtime(period).date() if timezone.is_aware(period) else period.date()
        per_reviewer_period.setdefault(row["reviewer_id"], {})[period] = row["n"]
    against_model = Q(decision=Decision.HUMAN, model_verdict=LIKELY_AI) | Q(
        decision=Decision.AI, model_verdict=LIKELY_HUMAN
    )
    totals = (
        decisions.values("reviewer_id", "reviewer__username")
        .annotate(
            total=Count("id"),
            ai=Count("id", filter=Q(decision=Decision.AI)),
            human=Count("id", filter=Q(decision=Decision.HUMAN)),
            unsure=Count("id", filter=Q(decision=Decision.UNSURE)),
            against_model=Count("id", filter=against_model),
        )
        .order_by("-total", "reviewer__username")
    )
    reviewers = []
    for row in totals:
        by_period = per_reviewer_period.get(row["reviewer_id"], {})
        reviewers.append(
            {
                "reviewer": row["reviewer__username"],
                "total": row["total"],
                "ai": row["ai"],
                "human": row["human"],
                "unsure": row["unsure"],
                "against_model": row["against_model"],
                "by_period": [by_period.get(period, 0) for period in periods],
            }
        )
    period_totals = [sum(r["by_period"][i] for r in reviewers) for i in range(len(periods))]
    return {
        "per": "week" if weekly else "day",
        "first": first,
        "last": last,
        "periods": periods,
        "reviewers": reviewers,
        "period_totals": period_totals,
        "total": sum(period_totals),
    }


def agreement(filters: DashboardFilters) -> dict:
    """Model verdict at routing against the final label: confusion matrix, agreement, kappa."""
    counts = {
        (row["verdict_at_routing"], row["label"]): row["n"]
        for row in _labelled_cases(filters).values("verdict_at_routing", "label").annotate(n=Count("id"))
    }
    matrix = [
        {"verdict": verdict, "counts": [counts.get((verdict, label), 0) for label in LABELS]} for verdict in VERDICTS
    ]
    for row in matrix:
        row["total"] = sum(row["counts"])
    both_ai = counts.get((LIKELY_AI, Decision.AI), 0)
    false_pos = counts.get((LIKELY_AI, Decision.HUMAN), 0)
    false_neg = counts.get((LIKELY_HUMAN, Decision.AI), 0)
    both_human = counts.get((LIKELY_HUMAN, Decision.HUMAN), 0)
    decisive = both_ai + false_pos + false_neg + both_human
    return {
        "labels": list(LABELS),
        "verdicts": list(VERDICTS),
        "matrix": matrix,
        "labelled": sum(counts.values()),
        "other_verdicts": sum(n for (verdict, _), n in counts.items() if verdict not in VERDICTS),
        "decisive": decisive,
        "agreeing": both_ai + both_human,
        "agreement_rate": rate(both_ai + both_human, decisive),
        "cohen_kappa": cohen_kappa(both_ai, false_pos, false_neg, both_human),
        "false_positives": false_pos,
        "false_negatives": false_neg,
    }


def calibration(filters: DashboardFilters, bins: int = CALIBRATION_BINS) -> dict:
    """Reliability diagram: cases with a final ai/human label, binned by P(AI) at routing."""
    rows = (
        _labelled_cases(filters)
        .filter(label__in=[Decision.AI, Decision.HUMAN], p_ai_at_routing__isnull=False)
        .annotate(bin=_bin("p_ai_at_routing", bins))
        .values("bin")
        .annotate(n=Count("id"), n_ai=Count("id", filter=Q(label=Decision.AI)), mean_p=Avg("p_ai_at_routing"))
    )
    by_bin = {int(row["bin"]): row for row in rows}
    total = sum(row["n"] for row in by_bin.values())
    table, ece = [], 0.0
    for i in range(bins):
        row = by_bin.get(i)
        n = row["n"] if row else 0
        share_ai = rate(row["n_ai"], n) if row else None
        mean_p = row["mean_p"] if row else None
        if n:
            ece += n / total * abs(mean_p - share_ai)
        table.append(
            {
                "low": i / bins,
                "high": (i + 1) / bins,
                "count": n,
                "labelled_ai": row["n_ai"] if row else 0,
                "mean_p_ai": mean_p,
                "share_labelled_ai": share_ai,
            }
        )
    return {"bins": table, "labelled": total, "ece": ece if total else None}


def score_histogram(filters: DashboardFilters, bins: int = HISTOGRAM_BINS) -> dict:
    """P(AI) of every scored submission in bins, split by the image's final label where known."""
    final_label = Case(
        When(asset__review_case__status=DECIDED, then=F("asset__review_case__label")),
        default=Value(""),
        output_field=CharField(),
    )
    rows = (
        _scored_submissions(filters)
        .annotate(bin=_bin("p_ai", bins), final=final_label)
        .values("bin", "final")
        .annotate(n=Count("id"))
    )
    groups = ["human", "ai", "unsure", "unlabelled"]
    counts = {group: [0] * bins for group in groups}
    for row in rows:
        group = row["final"] if row["final"] in counts else "unlabelled"
        counts[group][int(row["bin"])] += row["n"]
    table = [
        {"low": i / bins, "high": (i + 1) / bins, **{group: counts[group][i] for group in groups},
         "total": sum(counts[group][i] for group in groups)}
        for i in range(bins)
    ]
    return {"groups": groups, "bins": table, "total": sum(row["total"] for row in table)}


def model_versions(filters: DashboardFilters) -> list[dict]:
    """Per model version: live figures (submissions, labels) and the registry's own figures."""
    scored = {
        row["model_version"]: row
        for row in _scored_submissions(filters)
        .values("model_version")
        .annotate(
            scored=Count("id"),
            likely_ai=Count("id", filter=Q(verdict=LIKELY_AI)),
            uncertain=Count("id", filter=Q(verdict=UNCERTAIN)),
            likely_human=Count("id", filter=Q(verdict=LIKELY_HUMAN)),
            routed=Count("id", filter=Q(routed_to_review=True)),
            first_seen=Min("created_at"),
            last_seen=Max("created_at"),
        )
    }
    labelled = {
        row["model_version_at_routing"]: row
        for row in _labelled_cases(filters)
        .values("model_version_at_routing")
        .annotate(
            labelled=Count("id"),
            human=Count("id", filter=_HUMAN),
            false_positives=Count("id", filter=_FALSE_POSITIVE),
            decisive=Count("id", filter=_DECISIVE),
            agreeing=Count("id", filter=_DECISIVE & _AGREES),
        )
    }
    registry_qs = ModelVersion.objects.all()
    if filters.model_version:
        registry_qs = registry_qs.filter(version=filters.model_version)
    registry = {
        row["version"]: row
        for row in registry_qs.values("version", "status", "created_at", "holdout_evaluation", "validation_metrics")
    }
    result = []
    for version in set(scored) | set(labelled) | set(registry):
        s, lab, reg = scored.get(version, {}), labelled.get(version, {}), registry.get(version)
        holdout = ((reg or {}).get("holdout_evaluation") or {}).get("candidate") or {}
        validation = (reg or {}).get("validation_metrics") or {}
        n_scored = s.get("scored", 0)
        result.append(
            {
                "version": version,
                "registry_status": reg["status"] if reg else "",
                "scored": n_scored,
                "likely_ai": s.get("likely_ai", 0),
                "uncertain": s.get("uncertain", 0),
                "likely_human": s.get("likely_human", 0),
                "share_likely_ai": rate(s.get("likely_ai", 0), n_scored),
                "routed": s.get("routed", 0),
                "first_seen": s.get("first_seen") or (reg or {}).get("created_at"),
                "labelled": lab.get("labelled", 0),
                "fpr": _fpr_figure(lab.get("human", 0), lab.get("false_positives", 0)),
                "decisive": lab.get("decisive", 0),
                "agreement_rate": rate(lab.get("agreeing", 0), lab.get("decisive", 0)),
                "holdout": {
                    "compared_with": ((reg or {}).get("holdout_evaluation") or {}).get("active_version"),
                    "images": holdout.get("images"),
                    "human": holdout.get("human"),
                    "ai": holdout.get("ai"),
                    "roc_auc": holdout.get("roc_auc"),
                    "fpr": holdout.get("fpr"),
                    "false_positives": holdout.get("false_positives"),
                    "tpr": holdout.get("tpr"),
                    "ece": holdout.get("ece"),
                },
                "validation": {"roc_auc": validation.get("roc_auc"), "accuracy": validation.get("accuracy")},
            }
        )
    epoch = timezone.make_aware(datetime(1970, 1, 1), timezone.get_fixed_timezone(0))
    result.sort(key=lambda row: (row["first_seen"] or epoch, row["version"]))
    return result


def model_version_names() -> list[str]:
    """Every version the registry knows or a submission was scored with, for the filter menu."""
    names = set(ModelVersion.objects.values_list("version", flat=True))
    names |= set(
        Submission.objects.exclude(model_version="").values_list("model_version", flat=True).distinct().order_by()
    )
    return sorted(names)


def collection_name(collection_id: int | None) -> str:
    if not collection_id:
        return ""
    return Collection.objects.filter(pk=collection_id).values_list("name", flat=True).first() or ""


def data_watermark() -> tuple:
    """Changes whenever anything the dashboards count changes: every change to a submission,
    a case or a model version writes an append-only audit event, so the newest event of each
    log (id and time) marks the state of the data. Three primary-key lookups."""
    from detector.models import SubmissionEvent
    from registry.models import ModelEvent
    from reviews.models import CaseEvent

    return tuple(
        model.objects.order_by("-id").values_list("id", "at").first()
        for model in (SubmissionEvent, CaseEvent, ModelEvent)
    )


def likely_human_miss_rates(filters: DashboardFilters) -> list[dict]:
    """Per model version: how often an image scored likely_human is AI (reviewers' labels on the
    random check), its 95% Wilson interval, and the share of likely_human images sampled now.

    Not limited by the date range or collection: routing uses every label of a version. Versions
    shown: those with labels on the check, and those that scored images in the selection.
    """
    versions = set(_sampled_versions()) | set(
        _scored_submissions(filters).exclude(model_version="").values_list("model_version", flat=True).distinct()
    )
    if filters.model_version:
        versions = {filters.model_version}
    return [
        {
            "version": estimate.model_version,
            "labels": estimate.labels,
            "misses": estimate.misses,
            "rate": estimate.rate,
            "ci95_low": estimate.ci95_low,
            "ci95_high": estimate.ci95_high,
            "enough_labels": estimate.enough_labels,
            "min_labels": estimate.min_labels,
            "limit": estimate.limit,
            "floor": estimate.floor,
            "sample_rate": estimate.sample_rate,
            "raised": estimate.raised,
        }
        for estimate in reviews_selectors.likely_human_miss_rates(sorted(versions))
    ]


def _sampled_versions() -> list[str]:
    return [estimate.model_version for estimate in reviews_selectors.likely_human_miss_rates()]


def dashboard_figures(filters: DashboardFilters, today: date | None = None) -> dict:
    """Every figure of the overview page, as export.json returns them."""
    now = timezone.now()
    return {
        "generated_at": now,
        "filters": {**filters.as_dict(), "collection_name": collection_name(filters.collection_id)},
        "false_positive_rate": false_positive_rate(filters),
        "likely_human_miss_rates": likely_human_miss_rates(filters),
        "queue": queue_now(filters, now=now),
        "queue_depth": queue_depth_series(filters, today=today),
        "throughput": throughput(filters, today=today),
        "agreement": agreement(filters),
        "calibration": calibration(filters),
        "score_histogram": score_histogram(filters),
        "model_versions": model_versions(filters),
    }
