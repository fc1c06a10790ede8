"""Evaluating a trained detector on labelled images: one plain, JSON-ready dict of figures.

`evaluate_detector(detector, data_dirs)` scores every image of one or more labelled folders
(real/ + ai/ subfolders, or a MANIFEST.csv; see datasets.py) and reports, for the thresholds
the app uses:

  * ROC AUC, accuracy, precision, recall, F1 and the confusion matrix at likely_ai and at 0.5,
    and the verdict shares (likely_ai / uncertain / likely_human) of each class;
  * the false-positive rate on real images (with a 95% Wilson interval) over a threshold sweep;
  * calibration (10-bin reliability data and ECE);
  * a per-source and per-generator breakdown;
  * robustness: the same figures after JPEG q75 / q50, a 0.5x bicubic resize and a centre crop;
  * a container-shortcut check: every image re-encoded as lossless PNG and as JPEG q95.

Every image is decoded once, each variant is made in memory, and each variant is scored once
with `Detector.score_batch`, a batch at a time, so memory stays bounded on a large corpus.
Figures that a folder cannot define (ROC AUC of an all-real folder, the false-positive rate of
an all-AI one...) are None, with the reason under the sibling key "undefined"; a one-class
folder is a valid evaluation (e.g. the false-positive rate on human artworks).

Plain Python + numpy + Pillow + torch; no Django. report.py renders the dict.
"""

from __future__ import annotations

import io
import math
import os
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .datasets import LABEL_NAMES, balanced_subsample, collect_samples, summarise
from .metrics import roc_auc
from .preprocessing import to_rgb
from ..policy import MIN_SIDE_FOR_VERDICT

__all__ = [
    "EvaluationError",
    "EvaluationResult",
    "evaluate_detector",
    "score_summary",
    "calibration_summary",
    "roc_curve",
    "verdict",
    "wilson_interval",
    "ROBUSTNESS_VARIANTS",
    "CONTAINER_VARIANTS",
]

REPORT_FORMAT = "aiornot.evaluation/1"
SWEEP_THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(14))  # 0.30 .. 0.95
CALIBRATION_BINS = 10
HISTOGRAM_BINS = 20
ROC_MAX_POINTS = 400
WORST_LISTED = 10
_MAX_LOGGED_SKIPS = 20

FALSE_POSITIVE_WARNING = (
    "The score is an aid, not a verdict. A false positive - calling a person's own photo or artwork "
    "AI-generated - is the most harmful error this tool can make. The rates below were measured on the "
    "folders listed under Data and will differ on other images (other cameras, other art styles, other "
    "generators). Nobody should be accused of using AI on the strength of this score alone; a human "
    "makes every final call."
)

LIKELY_AI, UNCERTAIN, LIKELY_HUMAN = "likely_ai", "uncertain", "likely_human"
VERDICTS = (LIKELY_AI, UNCERTAIN, LIKELY_HUMAN)


class EvaluationError(ValueError):
    """The evaluation cannot run (no readable image, bad batch size or thresholds, unknown device...)."""


@dataclass
class EvaluationResult:
    """`report` is the plain JSON-ready dict; `images` one row per scored image (for scores.csv)."""

    report: dict
    images: list = field(default_factory=list)
    variants: list = field(default_factory=list)


# --- Image variants, all made in memory ------------------------------------------------------


def _reencode(image: Image.Image, fmt: str, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    buffer.seek(0)
    with Image.open(buffer) as reopened:
        reopened.load()
        return reopened.convert("RGB") if reopened.mode != "RGB" else reopened.copy()


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """The image after a JPEG round trip at `quality` (Pillow's default 4:2:0 subsampling)."""
    return _reencode(image, "JPEG", quality=quality)


def png(image: Image.Image) -> Image.Image:
    """The image after a lossless PNG round trip: exactly the same pixels in another container."""
    return _reencode(image, "PNG", compress_level=1)


def half_size(image: Image.Image) -> Image.Image:
    """Half the width and height, bicubic."""
    width, height = image.size
    return image.resize((max(1, round(width * 0.5)), max(1, round(height * 0.5))), Image.Resampling.BICUBIC)


def centre_crop(image: Image.Image, area: float = 0.5) -> Image.Image:
    """The central part of the image keeping `area` of its pixels (same aspect ratio)."""
    width, height = image.size
    side = math.sqrt(area)
    w, h = max(1, round(width * side)), max(1, round(height * side))
    left, top = (width - w) // 2, (height - h) // 2
    return image.crop((left, top, left + w, top + h))


# name -> (description, transform)
ROBUSTNESS_VARIANTS = {
    "jpeg_q75": ("JPEG re-compression at quality 75", lambda im: jpeg(im, 75)),
    "jpeg_q50": ("JPEG re-compression at quality 50", lambda im: jpeg(im, 50)),
    "resize_0.5x": ("downscaled to half width and height (bicubic)", half_size),
    "centre_crop_50pct": ("central crop keeping 50% of the area", centre_crop),
}
CONTAINER_VARIANTS = {
    "png": ("re-encoded as lossless PNG (identical pixels)", png),
    "jpeg_q95": ("re-encoded as JPEG quality 95", lambda im: jpeg(im, 95)),
}


# --- Figures from scores (pure numpy) ----------------------------------------------------------


def verdict(p_ai: float, likely_ai: float, likely_human: float, judged: bool = True) -> str:
    """The app's verdict rule (detector.policy): >= likely_ai, <= likely_human, else uncertain.

    `judged` is False for an image too small to judge (short side < MIN_SIDE_FOR_VERDICT):
    the app calls those uncertain whatever the score.
    """
    if not judged:
        return UNCERTAIN
    if p_ai >= likely_ai:
        return LIKELY_AI
    if p_ai <= likely_human:
        return LIKELY_HUMAN
    return UNCERTAIN


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> list | None:
    """95% Wilson score interval of a proportion; None without trials.

    Zero false positives among 20 real images does not mean a false-positive rate of 0: the
    upper end of this interval (about 16%) says how high it could plausibly still be.
    """
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return [max(0.0, centre - half), min(1.0, centre + half)]


def _rate(numerator: int, denominator: int):
    return numerator / denominator if denominator > 0 else None


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
    precision = _rate(tp, tp + fp)
    recall = _rate(tp, n_ai)
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
        "accuracy": _rate(tp + tn, n_real + n_ai),
        "balanced_accuracy": (tp / n_ai + tn / n_real) / 2 if n_ai and n_real else None,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "fpr": _rate(fp, n_real),
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
                "fpr": _rate(fp, n_real),
                "fpr_95ci": wilson_interval(fp, n_real),
                "true_positives": tp,
                "ai": n_ai,
                "tpr": _rate(tp, n_ai),
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
            "fpr_at_likely_ai": _rate(int((at_ai & real).sum()), n_real),
            "fpr_at_likely_ai_95ci": wilson_interval(int((at_ai & real).sum()), n_real),
            "fpr_at_0.5": _rate(int((at_half & real).sum()), n_real),
            "tpr_at_likely_ai": _rate(int((at_ai & ai).sum()), n_ai),
            "tpr_at_0.5": _rate(int((at_half & ai).sum()), n_ai),
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


# --- Scoring ----------------------------------------------------------------------------------


def check_device(device: str) -> str:
    """Fail early on a device this machine does not have."""
    from .inference import resolve_device

    try:
        return str(resolve_device(device))
    except ValueError as exc:
        raise EvaluationError(str(exc)) from None


def load_for_scoring(path) -> tuple[Image.Image, str]:
    """Fully decoded, upright RGB image as the app scores it, and the file's format (e.g. 'JPEG')."""
    with Image.open(path) as image:
        image.load()
        fmt = image.format or ""
        try:
            upright = ImageOps.exif_transpose(image)
        except Exception:  # a malformed orientation tag: score the pixels as stored, like the app
            upright = image
        rgb = to_rgb(upright)
        if rgb is image:
            rgb = image.copy()
    width, height = rgb.size
    if width < 1 or height < 1:
        raise ValueError("image has no pixels")
    return rgb, fmt


def _score(detector, images: list) -> list:
    """DetectorScore per image, or the exception that image raised (a bad image cannot sink its batch)."""
    if not images:
        return []
    try:
        return list(detector.score_batch(images))
    except Exception:
        results = []
        for image in images:
            try:
                results.append(detector.score(image))
            except Exception as exc:
                results.append(exc)
        return results


def _check_thresholds(thresholds) -> dict:
    try:
        likely_ai, likely_human = float(thresholds["likely_ai"]), float(thresholds["likely_human"])
    except (KeyError, TypeError, ValueError):
        raise EvaluationError(
            f"Thresholds must give numbers for 'likely_ai' and 'likely_human', got {thresholds!r}."
        ) from None
    if not (0.0 <= likely_human <= likely_ai <= 1.0):
        raise EvaluationError(
            f"Thresholds must satisfy 0 <= likely_human <= likely_ai <= 1, got likely_human={likely_human}, "
            f"likely_ai={likely_ai}."
        )
    return {"likely_ai": likely_ai, "likely_human": likely_human}


def _shown_path(path: str, roots: list[Path]) -> str:
    for root in roots:
        try:
            return f"{root.name}/{Path(path).resolve().relative_to(root).as_posix()}"
        except ValueError:
            continue
    return str(path)


def evaluate_detector(
    detector,
    data_dirs,
    *,
    thresholds: dict | None = None,
    thresholds_source: str = "checkpoint",
    max_images: int | None = None,
    seed: int = 0,
    robustness: bool = True,
    container_check: bool = True,
    batch_size: int = 16,
    log=print,
) -> EvaluationResult:
    """Score every image of the labelled folders (and its variants) and compute the report dict.

    Raises DatasetError (missing/empty folder, bad manifest) or EvaluationError (no readable
    image, bad numbers). Unreadable files are skipped and listed, never fatal.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise EvaluationError(f"batch_size must be an integer >= 1, got {batch_size!r}.")
    if max_images is not None and (not isinstance(max_images, int) or isinstance(max_images, bool) or max_images < 1):
        raise EvaluationError(f"max_images must be an integer >= 1 (or None for all images), got {max_images!r}.")
    if isinstance(data_dirs, (str, os.PathLike)):
        data_dirs = [data_dirs]
    data_dirs = list(data_dirs)
    thresholds = _check_thresholds(thresholds if thresholds is not None else detector.thresholds)
    started = time.perf_counter()

    found = collect_samples(data_dirs, log=log)
    samples = balanced_subsample(found, max_images, seed) if max_images is not None else found
    if max_images is not None:
        log(f"Evaluating a class-balanced sample of {len(samples)} of {len(found)} images (seed {seed}).")

    variants = {}
    if robustness:
        variants.update(ROBUSTNESS_VARIANTS)
    if container_check:
        variants.update(CONTAINER_VARIANTS)
    names = ["original", *variants]
    n = len(samples)
    p = {name: np.full(n, np.nan) for name in names}
    logit = {name: np.full(n, np.nan) for name in names}
    formats = [""] * n
    short_side = {name: np.zeros(n) for name in names}
    variant_failures: dict[str, list] = {name: [] for name in variants}
    skipped: list[dict] = []
    model_seconds = {name: 0.0 for name in names}
    tiles_scored = 0

    def skip(index: int, reason: str):
        skipped.append({"path": samples[index].path, "reason": reason})
        if len(skipped) <= _MAX_LOGGED_SKIPS:
            log(f"warning: skipping {samples[index].path}: {reason}")

    report_every = max(1, n // 10)
    next_report = report_every
    for start in range(0, n, batch_size):
        batch = range(start, min(n, start + batch_size))
        images = {}
        for i in batch:
            try:
                images[i], formats[i] = load_for_scoring(samples[i].path)
            except Exception as exc:  # unreadable, truncated or bomb: skip and count, never abort
                skip(i, f"cannot be decoded ({type(exc).__name__}: {str(exc)[:200]})")
        keys = list(images)
        t0 = time.perf_counter()
        results = _score(detector, [images[i] for i in keys])
        model_seconds["original"] += time.perf_counter() - t0
        kept = []
        for i, result in zip(keys, results):
            if isinstance(result, Exception):
                skip(i, f"cannot be scored ({type(result).__name__}: {str(result)[:200]})")
                continue
            p["original"][i], logit["original"][i] = result.p_ai, result.logit
            short_side["original"][i] = min(images[i].size)
            tiles_scored += result.tiles
            kept.append(i)
        for name, (_, transform) in variants.items():
            made, made_keys = [], []
            for i in kept:
                try:
                    made.append(transform(images[i]))
                    made_keys.append(i)
                    short_side[name][i] = min(made[-1].size)
                except Exception as exc:
                    variant_failures[name].append({"path": samples[i].path, "reason": f"{type(exc).__name__}: {exc}"})
            t0 = time.perf_counter()
            results = _score(detector, made)
            model_seconds[name] += time.perf_counter() - t0
            for i, result in zip(made_keys, results):
                if isinstance(result, Exception):
                    reason = f"{type(result).__name__}: {result}"
                    variant_failures[name].append({"path": samples[i].path, "reason": reason})
                else:
                    p[name][i], logit[name][i] = result.p_ai, result.logit
        del images
        done = batch.stop
        if done >= next_report or done == n:
            log(f"scored {done}/{n} images")
            next_report = done + report_every
    wall_seconds = time.perf_counter() - started

    ok = ~np.isnan(p["original"])
    if not ok.any():
        raise EvaluationError(
            f"None of the {n} image files in {', '.join(str(d) for d in data_dirs)} could be read and scored "
            f"(first problem: {skipped[0]['path']}: {skipped[0]['reason']})."
            if skipped
            else "No image to evaluate."
        )
    if skipped and len(skipped) > _MAX_LOGGED_SKIPS:
        log(f"warning: {len(skipped)} image files skipped in total ({len(skipped) - _MAX_LOGGED_SKIPS} not shown).")

    evaluated = [s for s, keep in zip(samples, ok) if keep]
    labels = np.array([s.label for s in evaluated], dtype=int)
    p = {name: values[ok] for name, values in p.items()}
    judged = {name: values[ok] >= MIN_SIDE_FOR_VERDICT for name, values in short_side.items()}
    logit = {name: values[ok] for name, values in logit.items()}
    formats = [f for f, keep in zip(formats, ok) if keep]
    p0, l0, j0 = p["original"], logit["original"], judged["original"]
    roots = [Path(d).expanduser().resolve() for d in data_dirs]

    data_summary = summarise(evaluated)
    data = {
        "folders": [str(r) for r in roots],
        "images_found": len(found),
        "images_selected": n,
        "images_evaluated": int(ok.sum()),
        "subsample": (
            {"max_images": max_images, "seed": seed, "rule": "class-balanced seeded random sample"}
            if max_images is not None
            else None
        ),
        "per_class": data_summary["per_class"],
        "per_source": data_summary["per_source"],
        "per_generator": data_summary.get("per_generator", {}),
        "per_format": {
            LABEL_NAMES[label]: dict(
                sorted(Counter(f or "?" for f, lab in zip(formats, labels) if lab == label).items())
            )
            for label in (0, 1)
        },
        "skipped": {"count": len(skipped), "files": skipped},
    }

    headline = score_summary(labels, p0, l0, thresholds, j0)
    headline["roc_curve"] = roc_curve(labels, l0, p0)

    model = {
        "model_version": detector.model_version,
        "arch": detector.arch,
        "checkpoint_path": getattr(detector, "checkpoint_path", ""),
        "checkpoint_sha256": getattr(detector, "checkpoint_sha256", ""),
        "checkpoint_thresholds": dict(detector.thresholds),
        "temperature": float(detector.temperature),
        "created_at": getattr(detector, "created_at", None),
        "input_size": getattr(getattr(detector, "preprocessing", None), "input_size", None),
        "training_metrics": {
            k: v
            for k, v in (getattr(detector, "metrics", None) or {}).items()
            if k in ("roc_auc", "accuracy", "false_positive_rate_real_at_likely_ai", "val_images")
        },
    }

    report = {
        "format": REPORT_FORMAT,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "warning": FALSE_POSITIVE_WARNING,
        "model": model,
        "thresholds": {**thresholds, "source": thresholds_source, "verdict_rule": (
            "P(AI) >= likely_ai -> likely_ai; P(AI) <= likely_human -> likely_human; otherwise uncertain; "
            f"an image whose short side is under {MIN_SIDE_FOR_VERDICT} px is uncertain whatever its score"
        )},
        "data": data,
        "headline": headline,
        "threshold_sweep": threshold_sweep(labels, p0, thresholds, judged=j0),
        "calibration": calibration_summary(labels, p0),
        "score_histogram": score_histogram(labels, p0),
        "per_source": group_breakdown([s.source for s in evaluated], labels, p0, l0, thresholds, j0),
        "per_generator": (
            group_breakdown([s.generator or "(not recorded)" for s in evaluated], labels, p0, l0, thresholds, j0)
            if any(s.generator for s in evaluated)
            else {}
        ),
        "robustness": _variant_section(
            ROBUSTNESS_VARIANTS, robustness, labels, p, logit, thresholds, variant_failures, judged
        ),
        "container_check": _container_section(
            container_check, labels, p, logit, thresholds, variant_failures, formats, judged
        ),
        "worst": _worst(evaluated, labels, p0, thresholds, roots, j0),
        "timing": _timing(detector, n, int(ok.sum()), names, p, model_seconds, wall_seconds, tiles_scored, batch_size),
        "settings": {
            "seed": seed,
            "max_images": max_images,
            "batch_size": batch_size,
            "robustness": bool(robustness),
            "container_check": bool(container_check),
        },
    }

    rows = []
    for k, sample in enumerate(evaluated):
        row = {
            "path": sample.path,
            "label": LABEL_NAMES[int(labels[k])],
            "source": sample.source,
            "generator": sample.generator,
            "format": formats[k],
            "p_ai": float(p0[k]),
            "logit": float(l0[k]),
            "verdict": verdict(float(p0[k]), thresholds["likely_ai"], thresholds["likely_human"], bool(j0[k])),
        }
        for name in variants:
            row[f"p_ai_{name}"] = None if math.isnan(p[name][k]) else float(p[name][k])
        rows.append(row)
    return EvaluationResult(report=plain(report), images=rows, variants=list(variants))


def _variant_entry(name, description, labels, p, logit, thresholds, failures, judged) -> dict:
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
        entry["failures"] = failures[name][:_MAX_LOGGED_SKIPS]
    return entry


def _variant_section(table, enabled, labels, p, logit, thresholds, failures, judged) -> dict:
    if not enabled:
        return {"skipped": True, "reason": "disabled (--no-robustness)", "variants": {}}
    return {
        "skipped": False,
        "variants": {
            name: _variant_entry(name, description, labels, p, logit, thresholds, failures, judged)
            for name, (description, _) in table.items()
        },
    }


def _container_section(enabled, labels, p, logit, thresholds, failures, formats, judged) -> dict:
    if not enabled:
        return {"skipped": True, "reason": "disabled", "variants": {}}
    section = _variant_section(CONTAINER_VARIANTS, True, labels, p, logit, thresholds, failures, judged)
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


def _worst(evaluated, labels, p0, thresholds, roots, judged) -> dict:
    """The real images scored most AI-like and the AI images scored most human-like, for a human to look at."""

    def listing(indices):
        return [
            {
                "path": _shown_path(evaluated[i].path, roots),
                "source": evaluated[i].source,
                "generator": evaluated[i].generator,
                "p_ai": float(p0[i]),
                "verdict": verdict(float(p0[i]), thresholds["likely_ai"], thresholds["likely_human"], bool(judged[i])),
            }
            for i in indices
        ]

    real_idx = np.flatnonzero(labels == 0)
    ai_idx = np.flatnonzero(labels == 1)
    return {
        "real_highest_p_ai": listing(real_idx[np.argsort(-p0[real_idx], kind="mergesort")][:WORST_LISTED]),
        "ai_lowest_p_ai": listing(ai_idx[np.argsort(p0[ai_idx], kind="mergesort")][:WORST_LISTED]),
    }


def _timing(detector, selected, evaluated, names, p, model_seconds, wall_seconds, tiles, batch_size) -> dict:
    import torch

    scored_all = sum(int((~np.isnan(p[name])).sum()) for name in names)
    model_all = sum(model_seconds.values())
    return {
        "images": evaluated,
        "images_selected": selected,
        "variants_per_image": len(names),
        "crops_scored_original": tiles,
        "model_seconds_original": model_seconds["original"],
        "images_per_second": evaluated / model_seconds["original"] if model_seconds["original"] > 0 else None,
        "images_per_second_all_variants": scored_all / model_all if model_all > 0 else None,
        "wall_seconds": wall_seconds,
        "end_to_end_images_per_second": evaluated / wall_seconds if wall_seconds > 0 else None,
        "note": (
            "images_per_second: score_batch on the original images (preprocessing + model); "
            "end_to_end includes decoding, making every variant and scoring it"
        ),
        "device": str(getattr(detector, "device", "cpu")),
        "torch_threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def plain(value):
    """numpy scalars -> Python, NaN/inf -> None, tuples -> lists, recursively (JSON-safe)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value
