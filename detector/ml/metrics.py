"""Shared statistics, computed with numpy only (no scikit-learn in the deployment): ROC AUC,
losses, rates and the Wilson interval. No torch, no Django: the web process imports this.
"""

from __future__ import annotations

import math

import numpy as np

WILSON_Z = 1.959963984540054  # two-sided 95%


def sigmoid(x) -> np.ndarray:
    """Numerically stable logistic function."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    e = np.exp(x[~positive])
    out[~positive] = e / (1.0 + e)
    return out


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    # Tied scores share the mean of their ranks, as in the Mann-Whitney statistic.
    boundaries = np.flatnonzero(np.diff(sorted_values)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(values)]))
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return ranks


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (labels 1 = AI is the positive class); NaN if a class is absent."""
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError("labels and scores must have the same length.")
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_log_loss(logits, labels) -> np.ndarray:
    """Per-example BCE-with-logits, stable for large |logit|."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    return np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))


def balanced_mean(values, labels, weights=None) -> float:
    """Mean of `values` giving both classes equal total weight (per-example weights within a class)."""
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    parts = []
    for mask in (labels, ~labels):
        total = weights[mask].sum()
        if total > 0:
            parts.append(float((values[mask] * weights[mask]).sum() / total))
    return float(np.mean(parts)) if parts else float("nan")


def weighted_rate(condition, mask, weights=None) -> float:
    """Weighted fraction of the examples selected by `mask` for which `condition` holds."""
    condition = np.asarray(condition).astype(bool)
    mask = np.asarray(mask).astype(bool)
    weights = np.ones(condition.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    total = weights[mask].sum()
    if total <= 0:
        return float("nan")
    return float(weights[mask & condition].sum() / total)


def rate(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None when there is nothing to divide by."""
    return numerator / denominator if denominator > 0 else None


def wilson_interval(successes: int, trials: int, z: float = WILSON_Z) -> tuple[float, float] | None:
    """95% Wilson score interval of a binomial proportion (sensible at small n and at 0 or n); None without trials.

    Zero false positives among 20 real images does not mean a false-positive rate of 0: the
    upper end of this interval (about 16%) says how high it could plausibly still be.
    """
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))  # contains p despite rounding


def paired_auc_difference(labels, before, after, resamples: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """AUC(after) - AUC(before) on the same images, and its 95% interval over images resampled with replacement."""
    rng = np.random.default_rng(seed)
    labels, before, after = np.asarray(labels), np.asarray(before), np.asarray(after)
    differences = []
    for _ in range(resamples):
        pick = rng.integers(0, len(labels), len(labels))
        differences.append(roc_auc(labels[pick], after[pick]) - roc_auc(labels[pick], before[pick]))
    low, high = np.nanpercentile(differences, [2.5, 97.5])
    return roc_auc(labels, after) - roc_auc(labels, before), float(low), float(high)
