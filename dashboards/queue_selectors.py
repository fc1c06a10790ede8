"""Dashboard figures about people's work: the queue now, its depth over time, and decisions
per reviewer. Conventions: ``dashboards.selectors``."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import Count, Min, Q
from django.db.models.functions import TruncDate, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext_lazy

from detector.models import Verdict
from reviews.models import Decision, ReviewCase

from .filters import (
    DECIDED,
    DashboardFilters,
    day_start,
    days_between,
    selected_cases,
    selected_decisions,
    series_window,
    waiting_cases,
)

LIKELY_AI, LIKELY_HUMAN = Verdict.LIKELY_AI, Verdict.LIKELY_HUMAN

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


def queue_now(filters: DashboardFilters, now: datetime | None = None) -> dict:
    """Cases waiting for people now, and how long they have waited (date range not applied)."""
    now = now or timezone.now()
    waiting = waiting_cases(filters)
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


def queue_depth_series(filters: DashboardFilters, today: date | None = None) -> dict:
    """Cases waiting at the end of each day: opened so far minus decided so far.

    Three queries whatever the number of cases: the depth at the start of the window, then
    cases opened and cases decided per day inside it (GROUP BY date).
    """
    first, last = series_window(filters, today)
    start, end = day_start(first), day_start(last + timedelta(days=1))
    cases = selected_cases(filters)
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
    for day in days_between(first, last):
        depth += opened.get(day, 0) - decided.get(day, 0)
        points.append({"date": day, "opened": opened.get(day, 0), "decided": decided.get(day, 0), "depth": depth})
    return {"first": first, "last": last, "points": points}


def throughput(filters: DashboardFilters, today: date | None = None) -> dict:
    """Decisions per reviewer per day (or week) over the series window, and per-reviewer totals."""
    first, last = series_window(filters, today)
    window = DashboardFilters(
        date_from=first, date_to=last, collection_id=filters.collection_id, model_version=filters.model_version
    )
    decisions = selected_decisions(window)
    weekly = filters.per == "week"
    if weekly:
        periods = sorted({day - timedelta(days=day.weekday()) for day in days_between(first, last)})
        bucket = TruncWeek("created_at")
    else:
        periods = days_between(first, last)
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
