"""Verdict thresholds and rules shared by the app, the fusion rule (detector.evidence.fusion)
and the evaluation report.

Plain Python: no Django, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

# Below this short side (px) the classifier's score is not read as a verdict. The corpus's
# 32x32 CIFAR thumbnails were all of the never-used hold-out's false positives: at that size
# the generator traces the model looks for are gone, and a false accusation is the worst error.
MIN_SIDE_FOR_VERDICT = 64

LIKELY_AI = "likely_ai"
UNCERTAIN = "uncertain"
LIKELY_HUMAN = "likely_human"


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


def verdict_for(p_ai: float, thresholds: Thresholds) -> str:
    if p_ai >= thresholds.likely_ai:
        return LIKELY_AI
    if p_ai <= thresholds.likely_human:
        return LIKELY_HUMAN
    return UNCERTAIN


def too_small_to_judge(width: int | None, height: int | None) -> bool:
    """True when the image is too small for the classifier's score to be read as a verdict."""
    if width is None or height is None:
        return False
    return min(int(width), int(height)) < MIN_SIDE_FOR_VERDICT


def sampled_for_review(sha256: str, rate: float) -> bool:
    """Deterministic sample keyed on the image, so rescoring never flips the choice."""
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    return int(sha256[:8], 16) / 0xFFFFFFFF < rate
