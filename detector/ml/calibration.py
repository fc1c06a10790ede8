"""Temperature scaling and the suggested operating thresholds, fitted on validation logits.

The calibrated probability assumes equal class priors (validation losses are class-balanced),
because the share of AI images differs from one deployment to the next.
"""

from __future__ import annotations

import math

import numpy as np

from .metrics import balanced_mean, binary_log_loss, sigmoid, weighted_rate

# Accusing a human artist is the worst error, so "likely AI" must rarely fire on real images.
LIKELY_AI_MAX_FALSE_POSITIVE_RATE = 0.01
LIKELY_AI_MIN = 0.5
LIKELY_AI_MAX = 0.999
LIKELY_AI_FALLBACK = 0.9
MIN_REAL_FOR_RATE = 100  # real validation images needed before a 1% rate means anything
LIKELY_HUMAN_DEFAULT = 0.2
# "Likely human" must not reassure about AI images often.
LIKELY_HUMAN_MAX_AI_RATE = 0.05
THRESHOLD_GRID = 1e-4  # thresholds are reported on a 0.0001 grid so that they read well

TEMPERATURE_RANGE = (0.05, 20.0)


def calibrated_nll(logits, labels, temperature: float, weights=None) -> float:
    """Class-balanced NLL of sigmoid(logits / temperature)."""
    return balanced_mean(binary_log_loss(np.asarray(logits, dtype=np.float64) / temperature, labels), labels, weights)


def fit_temperature(logits, labels, weights=None) -> float:
    """Temperature minimising the class-balanced validation NLL (log-grid search, then golden section)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if logits.size == 0 or labels.min() == labels.max():
        return 1.0
    low, high = (math.log(v) for v in TEMPERATURE_RANGE)
    grid = np.linspace(low, high, 121)
    losses = [calibrated_nll(logits, labels, math.exp(t), weights) for t in grid]
    best = int(np.argmin(losses))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = calibrated_nll(logits, labels, math.exp(c), weights), calibrated_nll(logits, labels, math.exp(d), weights)
    for _ in range(40):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = calibrated_nll(logits, labels, math.exp(c), weights)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = calibrated_nll(logits, labels, math.exp(d), weights)
    temperature = math.exp((a + b) / 2)
    if calibrated_nll(logits, labels, temperature, weights) > losses[best]:
        temperature = math.exp(grid[best])
    return float(temperature)


def choose_thresholds(p_ai, labels, weights=None) -> tuple[dict, dict]:
    """Suggested {"likely_ai", "likely_human"} on calibrated P(AI), plus how they were reached.

    likely_ai: lowest threshold >= 0.5 whose false-positive rate on real images is <= 1%
    (0.9 if none up to 0.999, and at least 0.9 when fewer than 100 real images were scored). likely_human: 0.2, lowered until at most 5% of AI images fall below it.
    """
    p_ai = np.asarray(p_ai, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    real, ai = ~labels, labels

    candidates = {LIKELY_AI_MIN}
    for p in p_ai[real & (p_ai >= LIKELY_AI_MIN)]:
        candidates.add(grid_above(p))
    likely_ai, met_ai = LIKELY_AI_FALLBACK, False
    for t in sorted(candidates):
        if t > LIKELY_AI_MAX:
            break
        fpr = weighted_rate(p_ai >= t, real, weights)
        if not math.isnan(fpr) and fpr <= LIKELY_AI_MAX_FALSE_POSITIVE_RATE:
            likely_ai, met_ai = t, True
            break

    n_real = int(real.sum())
    too_few_real = n_real < MIN_REAL_FOR_RATE
    if too_few_real and likely_ai < LIKELY_AI_FALLBACK:
        # A 1% rate cannot be seen on fewer than 100 real images: do not trust a low threshold.
        likely_ai, met_ai = LIKELY_AI_FALLBACK, False

    likely_human, met_human = LIKELY_HUMAN_DEFAULT, True
    rate = weighted_rate(p_ai < likely_human, ai, weights)
    if not math.isnan(rate) and rate > LIKELY_HUMAN_MAX_AI_RATE:
        met_human = False
        lowered = sorted({_grid_at_or_below(p) for p in p_ai[ai & (p_ai < LIKELY_HUMAN_DEFAULT)]}, reverse=True)
        likely_human = 0.0
        for t in lowered:
            if weighted_rate(p_ai < t, ai, weights) <= LIKELY_HUMAN_MAX_AI_RATE:
                likely_human, met_human = t, True
                break

    info = {
        "likely_ai_rule": f"lowest threshold >= {LIKELY_AI_MIN} with real-image false-positive rate <= "
        f"{LIKELY_AI_MAX_FALSE_POSITIVE_RATE:.0%}; fallback {LIKELY_AI_FALLBACK}",
        "likely_ai_target_met": met_ai,
        "likely_ai_note": (
            f"only {n_real} real validation images (< {MIN_REAL_FOR_RATE}): held at >= {LIKELY_AI_FALLBACK}"
            if too_few_real
            else ""
        ),
        "likely_human_rule": f"{LIKELY_HUMAN_DEFAULT}, lowered until <= {LIKELY_HUMAN_MAX_AI_RATE:.0%} of AI images "
        "fall below it",
        "likely_human_target_met": met_human,
    }
    return {"likely_ai": float(likely_ai), "likely_human": float(likely_human)}, info


def grid_above(p: float) -> float:
    """Smallest grid value strictly above p (a threshold that this score does not reach)."""
    t = round(math.floor(p / THRESHOLD_GRID) * THRESHOLD_GRID, 4)
    while t <= p:
        t = round(t + THRESHOLD_GRID, 4)
    return t


def _grid_at_or_below(p: float) -> float:
    """Largest grid value not above p (a threshold this score is not below)."""
    t = round(math.floor(p / THRESHOLD_GRID) * THRESHOLD_GRID, 4)
    while t > p:
        t = round(t - THRESHOLD_GRID, 4)
    return t


def probabilities(logits, temperature: float) -> np.ndarray:
    """Calibrated P(AI) for an array of logits."""
    return sigmoid(np.asarray(logits, dtype=np.float64) / temperature)
