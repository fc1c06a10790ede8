"""Turn evidence rows into P(AI) and a verdict. Versioned, so old verdicts stay explainable.

Plain Python: no Django, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

POLICY_VERSION = "classifier-stability/2"

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


@dataclass(frozen=True)
class PolicyResult:
    p_ai: float
    verdict: str
    policy_version: str
    unstable: bool = False  # the verdict changed under mild re-encoding, so it reads uncertain


def verdict_for(p_ai: float, thresholds: Thresholds) -> str:
    if p_ai >= thresholds.likely_ai:
        return LIKELY_AI
    if p_ai <= thresholds.likely_human:
        return LIKELY_HUMAN
    return UNCERTAIN


def policy_apply(
    *, classifier_p_ai: float, thresholds: Thresholds, classifier_p_ai_perturbed: float | None = None
) -> PolicyResult:
    """The classifier policy: P(AI) is the calibrated classifier probability.

    When the score of a mildly re-encoded copy (JPEG 90, 0.9x) gives another verdict,
    the verdict is `uncertain`: a call that a routine re-save can flip is not one to act on.
    """
    p_ai = min(1.0, max(0.0, float(classifier_p_ai)))
    verdict = verdict_for(p_ai, thresholds)
    unstable = False
    if classifier_p_ai_perturbed is not None:
        unstable = verdict_for(float(classifier_p_ai_perturbed), thresholds) != verdict
    return PolicyResult(
        p_ai=p_ai,
        verdict=UNCERTAIN if unstable else verdict,
        policy_version=POLICY_VERSION,
        unstable=unstable,
    )


def sampled_for_review(sha256: str, rate: float) -> bool:
    """Deterministic sample keyed on the image, so rescoring never flips the choice."""
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    return int(sha256[:8], 16) / 0xFFFFFFFF < rate
