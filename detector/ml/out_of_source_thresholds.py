"""The verdict thresholds chosen on out-of-source scores (issue 11's rule).

`likely_ai` is an accusation, so it is held to the real images of sources the model never saw, and
to what a source it has still never seen may expect: the false-positive rate is kept at or under 1%
pooled over the images AND averaged over their sources. The pooled rate is what a large source
dominates; the source-balanced mean is the expected rate on one new source drawn like these, which
is what an art contest with a style the model has not met lives through. A retrain that taught
"illustration means AI" to the head shows up first in a few art sources, not in the pool.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .calibration import THRESHOLD_GRID, grid_above

LIKELY_AI_MAX_RATE = 0.01  # of out-of-source photos, and of out-of-source artworks
LIKELY_HUMAN_MAX_AI_RATE = 0.10  # of out-of-source AI images may fall below likely_human
MIN_REAL_PER_KIND = 100  # a 1% rate cannot be seen on fewer
LIKELY_AI_FALLBACK = 0.95
# A source's own rate enters the source-balanced mean only with this many images; smaller sources
# count together as one, so a single image of a tiny source cannot move the mean by whole percents.
SOURCE_MIN_IMAGES = 25


def source_groups(sources) -> list[np.ndarray]:
    """Index arrays, one per source with >= SOURCE_MIN_IMAGES images, one more for all smaller sources."""
    by_source = defaultdict(list)
    for index, source in enumerate(sources):
        by_source[source].append(index)
    groups, small = [], []
    for indices in by_source.values():
        if len(indices) >= SOURCE_MIN_IMAGES:
            groups.append(np.array(indices))
        else:
            small.extend(indices)
    if small:
        groups.append(np.array(small))
    return groups


def source_balanced_rate(condition, groups) -> float:
    """The mean over source groups (source_groups) of each group's rate of `condition`."""
    condition = np.asarray(condition)
    rates = [float(condition[g].mean()) for g in groups]
    return float(np.mean(rates)) if rates else 0.0


def choose_out_of_source_thresholds(p_ai, images, *, resaved=None) -> tuple[dict, dict]:
    """likely_ai: the lowest threshold >= 0.5 that at most 1% of out-of-source photos AND at most 1% of
    out-of-source artworks reach, pooled and averaged over their sources; likely_human: the highest
    <= 0.5 below which at most 10% of AI images fall.

    `resaved`: the same images' scores after a re-save (JPEG q75 + half size). When given, likely_ai
    must also keep the re-saved photos and artworks at or under 1%: a contest entry or a news photo
    has usually been re-saved, and an accusation is the error that costs most. likely_human must
    then also let at most 10% of the re-saved AI images through: a re-save lowers an AI image's
    score, and "likely human-made" clears an entry unless it is sampled.

    Where fewer than 100 photos or 100 artworks were scored, a 1% rate cannot be seen: likely_ai is
    held at >= 0.95 and the note says so (the uncertain band widens). Where no threshold up to 0.999
    keeps the source-balanced rates at or under 1%, the pooled rule alone decides and the note says so.
    """
    p = np.asarray(p_ai, dtype=np.float64)
    copies = [p] if resaved is None else [p, np.asarray(resaved, dtype=np.float64)]
    is_ai = np.array([i.sample.label == 1 for i in images])
    is_art = np.array([i.is_art for i in images])
    sources = [i.sample.source for i in images]
    photos, art = ~is_ai & ~is_art, ~is_ai & is_art
    kinds = {"photos": photos, "artworks": art}
    groups = {name: source_groups([sources[i] for i in np.flatnonzero(mask)]) for name, mask in kinds.items()}
    notes = []
    candidates = sorted({0.5, *(grid_above(v) for c in copies for v in c[~is_ai & (c >= 0.5)])})

    def pooled_ok(t):
        return all(_rate(c[mask] >= t) <= LIKELY_AI_MAX_RATE for c in copies for mask in kinds.values())

    def balanced_ok(t):
        return all(source_balanced_rate(c[mask] >= t, groups[name]) <= LIKELY_AI_MAX_RATE
                   for c in copies for name, mask in kinds.items())

    pooled = next((t for t in candidates if t <= 0.999 and pooled_ok(t)), None)
    both = None if pooled is None else next((t for t in candidates if pooled <= t <= 0.999 and balanced_ok(t)), None)
    likely_ai = both if both is not None else pooled if pooled is not None else LIKELY_AI_FALLBACK
    met = pooled is not None
    if pooled is not None and both is None:
        notes.append("no threshold up to 0.999 kept the source-balanced false-positive rates at or under 1%: "
                     "likely_ai keeps the pooled rates only")
    for name, mask in kinds.items():
        if mask.sum() < MIN_REAL_PER_KIND:
            notes.append(f"only {int(mask.sum())} out-of-source {name} (< {MIN_REAL_PER_KIND}): likely_ai held at >= {LIKELY_AI_FALLBACK}")
            likely_ai = max(likely_ai, LIKELY_AI_FALLBACK)
    if not met:
        notes.append("no threshold up to 0.999 kept both false-positive rates at or under 1%")
    likely_human = min(_highest_clearing_threshold(c[is_ai]) for c in copies)
    if likely_human >= likely_ai:
        likely_human = min(likely_human, likely_ai - 0.05)
    after = ", as they are and after JPEG q75 + half size" if resaved is not None else ""
    info = {
        "likely_ai_rule": "lowest threshold >= 0.5 with <= 1% of out-of-source photos and <= 1% of out-of-source artworks "
                          "at or above it, pooled and averaged over their sources" + after,
        "likely_human_rule": "highest threshold <= 0.5 with <= 10% of out-of-source AI images below it" + after,
        "likely_ai_target_met": bool(met),
        "likely_ai_pooled_rule": float(pooled if pooled is not None else LIKELY_AI_FALLBACK),
        "source_balanced_likely_ai": {name: source_balanced_rate(p[mask] >= likely_ai, groups[name])
                                      for name, mask in kinds.items()},
        "sources": {name: len(groups[name]) for name in kinds},
        "notes": notes,
        "photos": int(photos.sum()), "artworks": int(art.sum()), "ai_images": int(is_ai.sum()),
    }
    return {"likely_ai": float(likely_ai), "likely_human": float(round(likely_human, 4))}, info


def _highest_clearing_threshold(ai_scores) -> float:
    """The highest grid threshold <= 0.5 below which at most LIKELY_HUMAN_MAX_AI_RATE of these AI scores fall."""
    ai_scores = np.sort(np.asarray(ai_scores, dtype=np.float64))
    if not len(ai_scores):
        return 0.0
    allowed = int(math.floor(LIKELY_HUMAN_MAX_AI_RATE * len(ai_scores)))
    t = float(ai_scores[allowed]) if allowed < len(ai_scores) else 0.5
    return min(0.5, math.floor(t / THRESHOLD_GRID) * THRESHOLD_GRID)


def _rate(condition) -> float:
    condition = np.asarray(condition)
    return float(condition.mean()) if condition.size else 0.0
