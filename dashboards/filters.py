"""The dashboards' filters (date range, collection, model version), the days a chart covers,
and the base querysets every figure starts from. Conventions: ``dashboards.selectors``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from detector.models import Submission
from reviews.models import ReviewCase, ReviewDecision

DECIDED = ReviewCase.Status.DECIDED
DEFAULT_SERIES_DAYS = 30
MAX_SERIES_DAYS = 366


@dataclass(frozen=True)
class DashboardFilters:
    date_from: date | None = None
    date_to: date | None = None
    collection_id: int | None = None
    model_version: str = ""
    per: str = "day"  # throughput period: day | week

    def start(self) -> datetime | None:
        return day_start(self.date_from) if self.date_from else None

    def end(self) -> datetime | None:
        """Exclusive: the start of the day after ``date_to``."""
        return day_start(self.date_to + timedelta(days=1)) if self.date_to else None

    def as_dict(self) -> dict:
        return asdict(self)


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the site's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def in_range(field: str, filters: DashboardFilters) -> Q:
    """``field`` within the filters' date range (no condition where an end is open)."""
    q = Q()
    if filters.start():
        q &= Q(**{f"{field}__gte": filters.start()})
    if filters.end():
        q &= Q(**{f"{field}__lt": filters.end()})
    return q


# --- Base querysets ------------------------------------------------------------------------------


def scored_submissions(filters: DashboardFilters) -> QuerySet[Submission]:
    """Scored submissions in the date range, collection and model version."""
    qs = Submission.objects.filter(status=Submission.Status.SCORED, p_ai__isnull=False)
    qs = qs.filter(in_range("created_at", filters))
    if filters.collection_id:
        qs = qs.filter(collection_id=filters.collection_id)
    if filters.model_version:
        qs = qs.filter(model_version=filters.model_version)
    return qs


def selected_cases(filters: DashboardFilters) -> QuerySet[ReviewCase]:
    """Cases in the chosen collection and model version (no date condition)."""
    qs = ReviewCase.objects.all()
    if filters.collection_id:
        qs = qs.filter(first_submission__collection_id=filters.collection_id)
    if filters.model_version:
        qs = qs.filter(model_version_at_routing=filters.model_version)
    return qs


def waiting_cases(filters: DashboardFilters) -> QuerySet[ReviewCase]:
    """Cases not decided yet (no date condition)."""
    return selected_cases(filters).exclude(status=DECIDED)


def labelled_cases(filters: DashboardFilters) -> QuerySet[ReviewCase]:
    """Decided cases with a final label, labelled within the date range."""
    return selected_cases(filters).filter(status=DECIDED).exclude(label="").filter(in_range("labelled_at", filters))


def selected_decisions(filters: DashboardFilters) -> QuerySet[ReviewDecision]:
    """Reviewers' decisions made in the date range, on cases of the collection and model version."""
    qs = ReviewDecision.objects.filter(in_range("created_at", filters))
    if filters.collection_id:
        qs = qs.filter(case__first_submission__collection_id=filters.collection_id)
    if filters.model_version:
        qs = qs.filter(case__model_version_at_routing=filters.model_version)
    return qs


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


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
