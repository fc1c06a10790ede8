"""Dashboard figures about the model against people's final labels: false-positive rate,
agreement and Cohen's kappa, calibration, score histogram, per model version, and the
likely_human miss rate. Conventions: ``dashboards.selectors``."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Avg, Case, CharField, Count, F, FloatField, Max, Min, Q, Value, When
from django.db.models.functions import Floor, Least
from django.utils import timezone

from detector.ml.metrics import rate, wilson_interval
from detector.policy import LIKELY_AI, LIKELY_HUMAN, UNCERTAIN, VERDICTS
from registry.models import ModelVersion
from reviews.models import Decision
from reviews.selectors import likely_human_miss_rates as review_miss_rates

from .filters import DECIDED, DashboardFilters, labelled_cases, scored_submissions

LABELS = [Decision.AI, Decision.HUMAN, Decision.UNSURE]
CALIBRATION_BINS = 10
HISTOGRAM_BINS = 20


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


def false_positive_rate(filters: DashboardFilters) -> dict:
    """Share of images people labelled human-made that the model had scored likely_ai (headline)."""
    counts = labelled_cases(filters).aggregate(
        human=Count("id", filter=_HUMAN),
        false_positives=Count("id", filter=_FALSE_POSITIVE),
        human_uncertain=Count("id", filter=Q(label=Decision.HUMAN, verdict_at_routing=UNCERTAIN)),
    )
    figure = _fpr_figure(counts["human"], counts["false_positives"])
    figure["human_scored_uncertain"] = counts["human_uncertain"]
    return figure


def agreement(filters: DashboardFilters) -> dict:
    """Model verdict at routing against the final label: confusion matrix, agreement, kappa."""
    counts = {
        (row["verdict_at_routing"], row["label"]): row["n"]
        for row in labelled_cases(filters).values("verdict_at_routing", "label").annotate(n=Count("id"))
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
        labelled_cases(filters)
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
        scored_submissions(filters)
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
        for row in scored_submissions(filters)
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
        for row in labelled_cases(filters)
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


def likely_human_miss_rates(filters: DashboardFilters) -> list[dict]:
    """Per model version: how often an image scored likely_human is AI (reviewers' labels on the
    random check), its 95% Wilson interval, and the share of likely_human images sampled now.

    Not limited by the date range or collection: routing uses every label of a version. Versions
    shown: those with labels on the check, and those that scored images in the selection.
    """
    versions = set(_sampled_versions()) | set(
        scored_submissions(filters).exclude(model_version="").values_list("model_version", flat=True).distinct()
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
        for estimate in review_miss_rates(sorted(versions))
    ]


def _sampled_versions() -> list[str]:
    return [estimate.model_version for estimate in review_miss_rates()]
