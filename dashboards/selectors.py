"""Reads for the admin dashboards: every figure is a database aggregate, never a loop over rows.

Each figure takes a ``DashboardFilters`` (date range, collection, model version; ``filters``)
and returns plain data (dicts, lists, numbers, dates) that the page draws and ``export.json``
serialises: people's work in ``queue_selectors``, the model against final labels in
``quality_selectors``, all of them together here. What each figure means and exactly how it
is computed: docs/dashboards.md.

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

from datetime import date

from django.utils import timezone

from detector.models import Collection, Submission, SubmissionEvent
from registry.models import ModelEvent, ModelVersion
from reviews.models import CaseEvent

from .filters import DashboardFilters
from .quality_selectors import (
    agreement,
    calibration,
    false_positive_rate,
    likely_human_miss_rates,
    model_versions,
    score_histogram,
)
from .queue_selectors import queue_depth_series, queue_now, throughput


def model_version_names() -> list[str]:
    """Every version the registry knows or a submission was scored with, for the filter menu."""
    names = set(ModelVersion.objects.values_list("version", flat=True))
    names |= set(
        Submission.objects.exclude(model_version="").values_list("model_version", flat=True).distinct().order_by()
    )
    return sorted(names)


def collection_name(collection_id: int | None) -> str:
    """The chosen collection's name, or '' when none is chosen (or it does not exist)."""
    if not collection_id:
        return ""
    return Collection.objects.filter(pk=collection_id).values_list("name", flat=True).first() or ""


def data_watermark() -> tuple:
    """Changes whenever anything the dashboards count changes: every change to a submission,
    a case or a model version writes an append-only audit event, so the newest event of each
    log (id and time) marks the state of the data. Three primary-key lookups."""
    return tuple(
        model.objects.order_by("-id").values_list("id", "at").first()
        for model in (SubmissionEvent, CaseEvent, ModelEvent)
    )


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
