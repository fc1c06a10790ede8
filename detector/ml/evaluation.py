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

The figures themselves are computed in evaluation_figures.py and the variants made in
image_variants.py. Plain Python + numpy + Pillow + torch; no Django. report.py renders the dict.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .datasets import LABEL_NAMES, balanced_subsample, collect_samples, summarise
from .evaluation_figures import (
    calibration_summary,
    container_section,
    group_breakdown,
    roc_curve,
    score_histogram,
    score_summary,
    threshold_sweep,
    variant_section,
    verdict,
)
from .image_variants import CONTAINER_VARIANTS, ROBUSTNESS_VARIANTS
from .inference import resolve_device
from .preprocessing import to_rgb
from ..policy import MIN_SIDE_FOR_VERDICT

__all__ = ["EvaluationError", "EvaluationResult", "evaluate_detector", "check_device", "load_for_scoring", "plain"]

REPORT_FORMAT = "aiornot.evaluation/1"
WORST_LISTED = 10
_MAX_LOGGED_SKIPS = 20

FALSE_POSITIVE_WARNING = (
    "The score is an aid, not a verdict. A false positive - calling a person's own photo or artwork "
    "AI-generated - is the most harmful error this tool can make. The rates below were measured on the "
    "folders listed under Data and will differ on other images (other cameras, other art styles, other "
    "generators). Nobody should be accused of using AI on the strength of this score alone; a human "
    "makes every final call."
)


class EvaluationError(ValueError):
    """The evaluation cannot run (no readable image, bad batch size or thresholds, unknown device...)."""


@dataclass
class EvaluationResult:
    """`report` is the plain JSON-ready dict; `images` one row per scored image (for scores.csv)."""

    report: dict
    images: list = field(default_factory=list)
    variants: list = field(default_factory=list)


# --- Scoring ----------------------------------------------------------------------------------


def check_device(device: str) -> str:
    """Fail early on a device this machine does not have."""
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
        "robustness": variant_section(
            ROBUSTNESS_VARIANTS, robustness, labels, p, logit, thresholds, variant_failures, judged
        ),
        "container_check": container_section(
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
