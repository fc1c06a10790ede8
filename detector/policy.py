"""Verdict names, thresholds and rules shared by the app, the fusion rule
(detector.evidence.fusion), the stability check and the evaluation report.

Plain Python: no Django, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .ml.metrics import wilson_interval

# Below this short side (px) the classifier's score is not read as a verdict. The corpus's
# 32x32 CIFAR thumbnails were all of the never-used hold-out's false positives: at that size
# the generator traces the model looks for are gone, and a false accusation is the worst error.
MIN_SIDE_FOR_VERDICT = 64

# Below this short side (px) a judged image gets a caution beside its verdict: both errors gather
# there (docs/model/MODEL_CARD.md, "Small images"): more AI images read likely human-made, and the
# only real images called likely AI out of source were re-saved copies of this size.
SMALL_IMAGE_BELOW = 448

LIKELY_AI = "likely_ai"
UNCERTAIN = "uncertain"
LIKELY_HUMAN = "likely_human"
VERDICTS = (LIKELY_AI, UNCERTAIN, LIKELY_HUMAN)


@dataclass(frozen=True)
class Thresholds:
    """P(AI) at or above ``likely_ai`` reads likely_ai; at or below ``likely_human`` likely_human."""

    likely_ai: float
    likely_human: float

    def __post_init__(self):
        if not (0.0 <= self.likely_human < self.likely_ai <= 1.0):
            raise ValueError(
                f"Thresholds must satisfy 0 <= likely_human < likely_ai <= 1, got "
                f"likely_human={self.likely_human}, likely_ai={self.likely_ai}."
            )


def verdict_for(p_ai: float, thresholds) -> str:
    """The verdict rule: likely_ai at or above ``likely_ai``, likely_human at or below
    ``likely_human``, uncertain in between.

    ``thresholds`` is a Thresholds, any object with those two attributes, or a mapping with
    those keys (as Detector.thresholds); ValueError when one is missing or likely_human is
    above likely_ai.
    """
    likely_ai, likely_human = _threshold_values(thresholds)
    if p_ai >= likely_ai:
        return LIKELY_AI
    if p_ai <= likely_human:
        return LIKELY_HUMAN
    return UNCERTAIN


def _threshold_values(thresholds) -> tuple[float, float]:
    if isinstance(thresholds, Thresholds):
        return thresholds.likely_ai, thresholds.likely_human
    if isinstance(thresholds, Mapping):
        likely_ai, likely_human = thresholds.get("likely_ai"), thresholds.get("likely_human")
    else:
        likely_ai, likely_human = getattr(thresholds, "likely_ai", None), getattr(thresholds, "likely_human", None)
    if likely_ai is None or likely_human is None:
        raise ValueError(f"Thresholds need likely_ai and likely_human, got {thresholds!r}.")
    likely_ai, likely_human = float(likely_ai), float(likely_human)
    if likely_human > likely_ai:
        raise ValueError(f"Thresholds must satisfy likely_human <= likely_ai, got {likely_human} and {likely_ai}.")
    return likely_ai, likely_human


def too_small_to_judge(width: int | None, height: int | None) -> bool:
    """True when the image is too small for the classifier's score to be read as a verdict."""
    if width is None or height is None:
        return False
    return min(int(width), int(height)) < MIN_SIDE_FOR_VERDICT


def small_for_reliable_verdict(width: int | None, height: int | None) -> bool:
    """True when the image is judged but small enough that its verdict deserves a caution."""
    if width is None or height is None:
        return False
    return MIN_SIDE_FOR_VERDICT <= min(int(width), int(height)) < SMALL_IMAGE_BELOW


def sampled_for_review(sha256: str, rate: float) -> bool:
    """Deterministic sample keyed on the image, so rescoring never flips the choice."""
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    return int(sha256[:8], 16) / 0xFFFFFFFF < rate


def likely_human_sample_rate(
    *, floor: float, misses: int, labels: int, limit: float, min_labels: int
) -> tuple[float, tuple[float, float] | None]:
    """The share of likely_human images to send to people, and the miss-rate interval behind it.

    ``misses`` of ``labels`` reviewer labels on sampled likely_human images were AI. Once
    ``min_labels`` are in (sooner when even the interval's lower bound passes ``limit``) and
    the 95% Wilson upper bound passes ``limit``, the rate rises to ``1 - limit / upper``: at
    that rate at most ``limit`` of likely_human images are AI that nobody looks at, even at
    the upper bound. Never below ``floor``.
    """
    interval = wilson_interval(misses, labels)
    floor = min(1.0, max(0.0, floor))
    if interval is None:
        return floor, None
    low, high = interval
    measured = labels >= min_labels or low > limit
    if measured and high > limit:
        return max(floor, min(1.0, 1.0 - limit / high)), interval
    return floor, interval
