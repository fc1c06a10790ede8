"""Figures of an evaluation computed from scores: operating points, verdict shares, threshold
sweep, calibration, ROC curve, histogram, per-group breakdown and the variant sections.

numpy on arrays of labels (1 = AI) and P(AI); no Django. evaluation.py scores the images
and assembles these into the report.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .datasets import LABEL_NAMES
from .image_variants import CONTAINER_VARIANTS
from .metrics import rate, roc_auc, wilson_interval
from ..policy import MIN_SIDE_FOR_VERDICT, UNCERTAIN, VERDICTS, verdict_for

SWEEP_THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(14))  # 0.30 .. 0.95
CALIBRATION_BINS = 10
HISTOGRAM_BINS = 20
ROC_MAX_POINTS = 400
MAX_LISTED_FAILURES = 20  # variant failures kept in the report


def verdict(p_ai: float, likely_ai: float, likely_human: float, judged: bool = True) -> str:
    """The app's verdict rule (detector.policy.verdict_for) on bare thresholds.

    `judged` is False for an image too small to judge (short side < MIN_SIDE_FOR_VERDICT):
    the app calls those uncertain whatever the score.
    """
    if not judged:
        return UNCERTAIN
    return verdict_for(p_ai, {"likely_ai": likely_ai, "likely_human": likely_human})


def _mean(values) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if values.size else None


def _auc(labels, scores) -> tuple[float | None, str | None]:
    labels = np.asarray(labels)
    n_ai = int((labels == 1).sum())
    n_real = int((labels == 0).sum())
    if n_ai == 0 or n_real == 0:
        if n_ai == 0 and n_real == 0:
            return None, "no images"
        missing = "AI" if n_ai == 0 else "real"
        return None, f"undefined: there are no {missing} images (ROC AUC needs both classes)"
    return float(roc_auc(labels, scores)), None


def _judged(judged, n: int):
    return np.ones(n, dtype=bool) if judged is None else np.asarray(judged, dtype=bool)


def operating_point(labels, p_ai, threshold: float, judged=None) -> dict:
    """Confusion matrix and rates when every image with P(AI) >= threshold is called AI.

    Images with judged=False (too small to judge) are never called AI, as in the app.
    """
    labels = np.asarray(labels).astype(int)
    p_ai = np.asarray(p_ai, dtype=np.float64)
    called_ai = (p_ai >= threshold) & _judged(judged, p_ai.size)
    real, ai = labels == 0, labels == 1
    tp, fn = int((called_ai & ai).sum()), int((~called_ai & ai).sum())
    fp, tn = int((called_ai & real).sum()), int((~called_ai & real).sum())
    n_real, n_ai = tn + fp, tp + fn
    precision = rate(tp, tp + fp)
    recall = rate(tp, n_ai)
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    undefined = {}
    if precision is None:
        undefined["precision"] = "no image was called AI at this threshold"
    if n_ai == 0:
        undefined["recall"] = undefined["tpr"] = "there are no AI images"
    if n_real == 0:
        undefined["fpr"] = "there are no real images"
    if f1 is None:
        undefined["f1"] = "precision or recall is undefined"
    if n_ai == 0 or n_real == 0:
        undefined["balanced_accuracy"] = "needs both classes"
    result = {
        "threshold": float(threshold),
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "accuracy": rate(tp + tn, n_real + n_ai),
        "balanced_accuracy": (tp / n_ai + tn / n_real) / 2 if n_ai and n_real else None,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "fpr": rate(fp, n_real),
        "fpr_95ci": wilson_interval(fp, n_real),
        "tpr": recall,
        "tpr_95ci": wilson_interval(tp, n_ai),
    }
    if undefined:
        result["undefined"] = undefined
    return result


def verdict_shares(labels, p_ai, thresholds: dict, judged=None) -> dict:
    """Share of each class that gets each verdict, with the app's rule and both thresholds."""
    labels = np.asarray(labels).astype(int)
    p_ai = np.asarray(p_ai, dtype=np.float64)
    judged = _judged(judged, p_ai.size)
    shares = {}
    for label in (0, 1):
        scores = p_ai[labels == label]
        counts = Counter(
            verdict(float(p), thresholds["likely_ai"], thresholds["likely_human"], bool(j))
            for p, j in zip(scores, judged[labels == label])
        )
        entry = {"count": int(scores.size)}
        for name in VERDICTS:
            entry[name] = counts[name] / scores.size if scores.size else None
            entry[f"{name}_count"] = int(counts[name])
        shares[LABEL_NAMES[label]] = entry
    return shares


def score_summary(labels, p_ai, logits, thresholds: dict, judged=None) -> dict:
    """The headline figures of one set of scores (AUC, both operating points, verdict shares).

    ROC AUC ranks every image by its score; the operating points and verdict shares follow the
    app, which never calls an image too small to judge (judged=False) AI or human.
    """
    labels = np.asarray(labels).astype(int)
    p_ai = np.asarray(p_ai, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)
    judged = _judged(judged, p_ai.size)
    real, ai = labels == 0, labels == 1
    # Ranking by logit avoids ties where P(AI) saturates at exactly 0 or 1.
    auc, auc_reason = _auc(labels, logits)
    summary = {
        "images": int(labels.size),
        "real": int(real.sum()),
        "ai": int(ai.sum()),
        "roc_auc": auc,
        "operating_points": {
            "likely_ai": operating_point(labels, p_ai, thresholds["likely_ai"], judged),
            "0.5": operating_point(labels, p_ai, 0.5, judged),
        },
        "classifier_alone_at_likely_ai": _classifier_alone(labels, p_ai, thresholds["likely_ai"]),
        "too_small_to_judge": {
            "min_side_px": MIN_SIDE_FOR_VERDICT,
            "real": int((~judged & real).sum()),
            "ai": int((~judged & ai).sum()),
        },
        "verdicts": verdict_shares(labels, p_ai, thresholds, judged),
        "mean_p_ai": {"real": _mean(p_ai[real]), "ai": _mean(p_ai[ai])},
        "brier_score": _mean((p_ai - labels) ** 2),
    }
    if auc_reason:
        summary["undefined"] = {"roc_auc": auc_reason}
    return summary


def _classifier_alone(labels, p_ai, threshold: float) -> dict:
    """FPR / TPR if the size rule were off: every image with P(AI) >= threshold called AI."""
    point = operating_point(labels, p_ai, threshold)
    return {k: point[k] for k in ("fpr", "fpr_95ci", "tpr", "confusion_matrix")}


def threshold_sweep(labels, p_ai, thresholds: dict, points=SWEEP_THRESHOLDS, judged=None) -> list[dict]:
    """False-positive rate on real images and true-positive rate on AI images at each threshold."""
    labels = np.asarray(labels).astype(int)
    p_ai = np.asarray(p_ai, dtype=np.float64)
    judged = _judged(judged, p_ai.size)
    marks: dict[float, list[str]] = {}
    for value in points:
        marks.setdefault(round(float(value), 6), [])
    marks.setdefault(0.5, []).append("0.5")
    marks.setdefault(round(float(thresholds["likely_ai"]), 6), []).append("likely_ai")
    rows = []
    real, ai = labels == 0, labels == 1
    n_real, n_ai = int(real.sum()), int(ai.sum())
    for t in sorted(marks):
        called = (p_ai >= t) & judged
        fp, tp = int((called & real).sum()), int((called & ai).sum())
        rows.append(
            {
                "threshold": t,
                "marks": marks[t],
                "false_positives": fp,
                "real": n_real,
                "fpr": rate(fp, n_real),
                "fpr_95ci": wilson_interval(fp, n_real),
                "true_positives": tp,
                "ai": n_ai,
                "tpr": rate(tp, n_ai),
            }
        )
    return rows


def calibration_summary(labels, p_ai, bins: int = CALIBRATION_BINS) -> dict:
    """Reliability-diagram data on equal-width bins and the expected calibration error.

    `ece` weights images as they come; `ece_class_balanced` gives both classes equal weight,
    which is what the checkpoint's calibration assumes (it was fitted with balanced classes).
    """
    labels = np.asarray(labels).astype(int)
    p_ai = np.asarray(p_ai, dtype=np.float64)
    n = labels.size
    index = np.clip((p_ai * bins).astype(int), 0, bins - 1)
    counts = Counter(labels.tolist())
    balanced = np.array([1.0 / (2 * counts[label]) if len(counts) == 2 else 1.0 / n for label in labels.tolist()])
    rows, ece, ece_balanced, mce = [], 0.0, 0.0, 0.0
    for b in range(bins):
        in_bin = index == b
        count = int(in_bin.sum())
        row = {"lower": b / bins, "upper": (b + 1) / bins, "count": int(count), "mean_p_ai": None, "fraction_ai": None}
        if count:
            mean_p, frac = float(p_ai[in_bin].mean()), float(labels[in_bin].mean())
            row.update(mean_p_ai=mean_p, fraction_ai=frac)
            gap = abs(mean_p - frac)
            ece += count / n * gap
            mce = max(mce, gap)
            w = balanced[in_bin]
            weighted_p = float((p_ai[in_bin] * w).sum() / w.sum())
            weighted_frac = float((labels[in_bin] * w).sum() / w.sum())
            ece_balanced += float(w.sum()) * abs(weighted_p - weighted_frac)
        rows.append(row)
    result = {
        "bins": rows,
        "ece": float(ece) if n else None,
        "ece_class_balanced": float(ece_balanced) if n else None,
        "max_calibration_error": float(mce) if n else None,
    }
    if len(counts) < 2 and n:
        result["note"] = (
            "only one class: every image's true P(AI) is "
            f"{1 if 1 in counts else 0}, so ECE is the mean distance of P(AI) from it"
        )
    return result


def roc_curve(labels, scores, p_ai=None, max_points: int = ROC_MAX_POINTS) -> dict | None:
    """ROC points (fpr, tpr) at every distinct score, from (0,0) to (1,1); None unless both classes.

    `thresholds` holds the P(AI) (from `p_ai`, same order as `scores`) at which each point is reached.
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    p_ai = scores if p_ai is None else np.asarray(p_ai, dtype=np.float64)
    n_ai, n_real = int(labels.sum()), int((labels == 0).sum())
    if n_ai == 0 or n_real == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_labels, sorted_p = scores[order], labels[order], p_ai[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    tps = np.cumsum(sorted_labels)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    fpr = np.r_[0.0, fps / n_real]
    tpr = np.r_[0.0, tps / n_ai]
    thresholds = np.r_[1.0, sorted_p[last_of_tie]]
    if fpr.size > max_points:
        keep = np.unique(np.r_[np.linspace(0, fpr.size - 1, max_points).round().astype(int), fpr.size - 1])
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thresholds.tolist()}


def score_histogram(labels, p_ai, bins: int = HISTOGRAM_BINS) -> dict:
    """Counts of P(AI) per class on equal-width bins over [0, 1]."""
    labels = np.asarray(labels).astype(int)
    p_ai = np.asarray(p_ai, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    return {
        "edges": edges.tolist(),
        "real": np.histogram(p_ai[labels == 0], bins=edges)[0].astype(int).tolist(),
        "ai": np.histogram(p_ai[labels == 1], bins=edges)[0].astype(int).tolist(),
    }


def group_breakdown(keys, labels, p_ai, logits, thresholds: dict, judged=None) -> dict:
    """Per group (source or generator): counts, mean P(AI), AUC where both classes, FPR / TPR where defined."""
    keys = np.asarray(keys, dtype=object)
    labels = np.asarray(labels).astype(int)
    p_ai = np.asarray(p_ai, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)
    judged_all = _judged(judged, p_ai.size)
    out = {}
    for key in sorted(set(keys.tolist())):
        mask = keys == key
        lab, p, lg, judged = labels[mask], p_ai[mask], logits[mask], judged_all[mask]
        real, ai = lab == 0, lab == 1
        auc, reason = _auc(lab, lg)
        at_ai = (p >= thresholds["likely_ai"]) & judged
        at_half = (p >= 0.5) & judged
        cleared = (p <= thresholds["likely_human"]) & judged
        n_real, n_ai = int(real.sum()), int(ai.sum())
        entry = {
            "images": int(mask.sum()),
            "real": n_real,
            "ai": n_ai,
            "mean_p_ai": _mean(p),
            "roc_auc": auc,
            "fpr_at_likely_ai": rate(int((at_ai & real).sum()), n_real),
            "fpr_at_likely_ai_95ci": wilson_interval(int((at_ai & real).sum()), n_real),
            "fpr_at_0.5": rate(int((at_half & real).sum()), n_real),
            "tpr_at_likely_ai": rate(int((at_ai & ai).sum()), n_ai),
            "tpr_at_0.5": rate(int((at_half & ai).sum()), n_ai),
            "likely_ai_share": _mean(at_ai),
            "likely_human_share": _mean(cleared),
            "too_small_to_judge": int((~judged).sum()),
        }
        undefined = {}
        if reason:
            undefined["roc_auc"] = reason
        if not n_real:
            undefined["fpr"] = "no real images in this group"
        if not n_ai:
            undefined["tpr"] = "no AI images in this group"
        if undefined:
            entry["undefined"] = undefined
        out[str(key)] = entry
    return out


def variant_entry(name, description, labels, p, logit, thresholds, failures, judged) -> dict:
    """The headline figures of one variant and how far its scores moved from the original's."""
    base, values = p["original"], p[name]
    ok = ~np.isnan(values)
    lab = labels[ok]
    entry = {"description": description, "failed": len(failures[name])}
    entry.update(score_summary(lab, values[ok], logit[name][ok], thresholds, judged[name][ok]))
    delta = values[ok] - base[ok]
    real, ai = lab == 0, lab == 1
    was_flagged = (base[ok] >= thresholds["likely_ai"]) & judged["original"][ok]
    now_flagged = (values[ok] >= thresholds["likely_ai"]) & judged[name][ok]
    entry["change_vs_original"] = {
        "mean_abs_delta_p": _mean(np.abs(delta)),
        "max_abs_delta_p": float(np.abs(delta).max()) if delta.size else None,
        "mean_delta_p_real": _mean(delta[real]),
        "mean_delta_p_ai": _mean(delta[ai]),
        "real_newly_likely_ai": int((now_flagged & ~was_flagged & real).sum()),
        "ai_no_longer_likely_ai": int((~now_flagged & was_flagged & ai).sum()),
    }
    entry["calibration_ece"] = calibration_summary(lab, values[ok])["ece"]
    entry["roc_curve"] = roc_curve(lab, logit[name][ok], values[ok])
    if failures[name]:
        entry["failures"] = failures[name][:MAX_LISTED_FAILURES]
    return entry


def variant_section(table, enabled, labels, p, logit, thresholds, failures, judged) -> dict:
    """One entry per variant of `table` (name -> (description, transform)), or why it was skipped."""
    if not enabled:
        return {"skipped": True, "reason": "disabled (--no-robustness)", "variants": {}}
    return {
        "skipped": False,
        "variants": {
            name: variant_entry(name, description, labels, p, logit, thresholds, failures, judged)
            for name, (description, _) in table.items()
        },
    }


def container_section(enabled, labels, p, logit, thresholds, failures, formats, judged) -> dict:
    """The container-shortcut check: the PNG and JPEG q95 variants and the crossed ROC AUCs."""
    if not enabled:
        return {"skipped": True, "reason": "disabled", "variants": {}}
    section = variant_section(CONTAINER_VARIANTS, True, labels, p, logit, thresholds, failures, judged)
    real, ai = labels == 0, labels == 1
    as_png, as_jpeg = p["png"], p["jpeg_q95"]
    lg_png, lg_jpeg = logit["png"], logit["jpeg_q95"]

    def crossed(real_scores, ai_scores):
        # Each class in the container that the shortcut would favour for the *other* class.
        mixed = np.where(real, real_scores, ai_scores)
        ok = ~np.isnan(mixed)
        return _auc(labels[ok], mixed[ok])[0]

    by_format = {}
    for label in (0, 1):
        entry = {}
        for fmt in sorted({f or "?" for f, lab in zip(formats, labels) if lab == label}):
            mask = np.array([(f or "?") == fmt and lab == label for f, lab in zip(formats, labels)])
            entry[fmt] = {"count": int(mask.sum()), "mean_p_ai": _mean(p["original"][mask])}
        by_format[LABEL_NAMES[label]] = entry

    def finite_mean(values):
        values = values[~np.isnan(values)]
        return _mean(values)

    section["shortcut"] = {
        "mean_p_ai_real_as_png": finite_mean(as_png[real]),
        "mean_p_ai_ai_as_jpeg": finite_mean(as_jpeg[ai]),
        "mean_p_ai_real_as_jpeg": finite_mean(as_jpeg[real]),
        "mean_p_ai_ai_as_png": finite_mean(as_png[ai]),
        "roc_auc_original": _auc(labels, logit["original"])[0],
        "roc_auc_real_png_vs_ai_jpeg": crossed(lg_png, lg_jpeg),
        "roc_auc_real_jpeg_vs_ai_png": crossed(lg_jpeg, lg_png),
        "original_containers": by_format,
        "how_to_read": (
            "A pixel classifier cannot see the file container: the PNG copy has exactly the original pixels, "
            "so its |delta p| should be ~0, and the JPEG q95 copy should move scores only slightly. If real "
            "images saved as PNG scored like AI images, or AI images saved as JPEG like real ones (ROC AUC "
            "with real-as-PNG vs AI-as-JPEG far below the original), the model would be scoring the container."
        ),
    }
    return section
