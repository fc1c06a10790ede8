"""The fusion rule: every layer's findings plus the classifier score -> P(AI) and a verdict.

Plain Python, no Django, no torch. The rule is additive in log-odds, like naive Bayes with
fixed likelihood ratios, and then guarded so that weak or forgeable inputs cannot accuse:

1. The classifier contributes logit(P(AI)) (its calibrated probability). An image too small
   to judge (short side < MIN_SIDE_FOR_VERDICT) contributes 0: its score is not used.
2. Every finding contributes `LOG_ODDS[verified][strength]`, + towards AI, - towards human.
   NEUTRAL and UNREADABLE findings contribute nothing, and missing metadata is no finding at
   all: most uploads are stripped, so absence is never evidence of AI.
3. Unverified findings of one layer are capped at `UNVERIFIED_LAYER_CAP` in total: several
   markers written by the same tool (a PNG `parameters` chunk and a `Software` tag) are one
   piece of evidence, not several.
4. P(AI) = sigmoid(sum), and the verdict follows the policy's thresholds.
5. No single unreliable input makes a verdict. Unreliable inputs are: each layer's unverified
   findings (metadata anyone can write or strip). If taking away any one of them changes the
   verdict, the verdict is `uncertain` and a person looks. Likewise when the classifier's score
   of a mildly re-encoded copy (JPEG 90, 0.9x), put in place of its score, changes the verdict. Verified evidence (a validated C2PA signature, a match with
   an image a reviewer labelled, an admin-imported known-AI set) may decide on its own.

A visible generator mark (layer "visible_mark": Gemini's sparkle, DALL-E 2's colour strip) is
forgeable by hand: it always counts as unverified and at most moderate
(FORGEABLE_LAYER_MAX_STRENGTH), so rule 5 keeps it from deciding alone.

So an Automatic1111 `parameters` chunk alone can turn "likely human" into "uncertain" (a person
looks), but never into "likely AI"; with the SD watermark, a second, independent layer, it can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..policy import LIKELY_AI, LIKELY_HUMAN, UNCERTAIN, Thresholds, too_small_to_judge, verdict_for
from . import MODERATE, NEUTRAL, STRONG, TOWARDS_AI, UNREADABLE, WEAK, Finding

FUSION_VERSION = "fusion/1"

LOG_ODDS = {
    True: {STRONG: 8.0, MODERATE: 3.0, WEAK: 1.0},  # verified: a signature or a person vouches
    False: {STRONG: 3.0, MODERATE: 2.0, WEAK: 0.7},  # unverified: forgeable both ways
}
UNVERIFIED_LAYER_CAP = 3.0
# Layers whose findings anyone can fake by hand, whatever their producer claims: a visible
# generator mark (Gemini's sparkle, DALL-E 2's colour strip) can be painted on a real photo. Their
# findings count as unverified and at most at this strength, so by rule 5 they never decide alone.
FORGEABLE_LAYER_MAX_STRENGTH = {"visible_mark": MODERATE}
_STRENGTH_ORDER = (WEAK, MODERATE, STRONG)

# Stable codes of the notes the rule writes (worded by detector/evidence_text.py); each note is
# stored twice: as an English sentence in `notes` and as {"code", "params", "text"} in
# `coded_notes`, so the page can word it in the reader's language.
CODE_NOTE_TOO_SMALL = "fusion.too_small"  # width, height
CODE_NOTE_LAYER_CAPPED = "fusion.layer_capped"  # layer, cap
CODE_NOTE_UNSTABLE = "fusion.unstable_under_reencoding"
CODE_NOTE_WITHOUT_EVIDENCE = "fusion.held_without_unverified_evidence"  # layer
CODE_NOTE_ONLY_CLASSIFIER = "fusion.only_the_classifier_spoke"
CODE_NOTE_MACHINE_READING = "fusion.machine_reading"
CODE_NOTE_OUTWEIGHED = "fusion.ai_evidence_outweighed"
_P_CLIP = 1e-6

__all__ = ["ClassifierReading", "FusionResult", "fuse", "FUSION_VERSION", "LOG_ODDS"]


@dataclass(frozen=True)
class ClassifierReading:
    """What the pixel classifier said about the image (and about a mildly re-encoded copy)."""

    p_ai: float
    p_ai_perturbed: float | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class FusionResult:
    p_ai: float
    verdict: str
    policy_version: str
    classifier_p_ai: float | None
    unstable: bool = False  # the classifier's verdict flipped on a re-encoded copy
    too_small: bool = False  # the classifier's score was not used: image too small
    held_uncertain: bool = False  # rule 5 turned a verdict into uncertain
    contributions: list = field(default_factory=list)  # one dict per input, in order
    notes: list = field(default_factory=list)  # plain sentences: why the verdict is what it is
    coded_notes: list = field(default_factory=list)  # the same notes as {"code", "params", "text"}

    def as_dict(self) -> dict:
        return {
            "p_ai": self.p_ai,
            "verdict": self.verdict,
            "policy_version": self.policy_version,
            "classifier_p_ai": self.classifier_p_ai,
            "unstable": self.unstable,
            "too_small": self.too_small,
            "held_uncertain": self.held_uncertain,
            "contributions": self.contributions,
            "notes": self.notes,
            "coded_notes": self.coded_notes,
        }


def _logit(p: float) -> float:
    p = min(1 - _P_CLIP, max(_P_CLIP, float(p)))
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _counted_as(finding: Finding) -> tuple[bool, str]:
    """(verified, strength) as the rule counts the finding: forgeable layers are capped."""
    ceiling = FORGEABLE_LAYER_MAX_STRENGTH.get(finding.layer)
    if ceiling is None:
        return bool(finding.verified), finding.strength
    strength = finding.strength
    if strength in _STRENGTH_ORDER and _STRENGTH_ORDER.index(strength) > _STRENGTH_ORDER.index(ceiling):
        strength = ceiling
    return False, strength


def finding_log_odds(finding: Finding) -> float:
    """The log-odds one finding adds before the per-layer cap (0 for neutral/unreadable)."""
    if finding.direction in (NEUTRAL, UNREADABLE):
        return 0.0
    verified, strength = _counted_as(finding)
    magnitude = LOG_ODDS[verified].get(strength, 0.0)
    return magnitude if finding.direction == TOWARDS_AI else -magnitude


def fuse(*, classifier: ClassifierReading | None, findings: list[Finding], thresholds: Thresholds) -> FusionResult:
    """Apply the fusion rule (module docstring) and say, in sentences, how the verdict came about."""
    notes: list[str] = []
    coded_notes: list[dict] = []

    def note(code: str, text: str, **params) -> None:
        notes.append(text)
        coded_notes.append({"code": code, "params": params, "text": text})

    contributions: list[dict] = []
    groups: dict[str, float] = {}  # unreliable inputs, by name -> their log-odds
    trusted = 0.0

    classifier_p = None
    unstable = too_small = False
    perturbed_shift = 0.0  # how the total moves when the re-encoded copy's score replaces the score
    if classifier is not None:
        classifier_p = min(1.0, max(0.0, float(classifier.p_ai)))
        too_small = too_small_to_judge(classifier.width, classifier.height)
        alone = verdict_for(classifier_p, thresholds)
        if classifier.p_ai_perturbed is not None and not too_small:
            unstable = verdict_for(float(classifier.p_ai_perturbed), thresholds) != alone
            perturbed_shift = _logit(classifier.p_ai_perturbed) - _logit(classifier_p)
        weight = 0.0 if too_small else _logit(classifier_p)
        trusted += weight
        if too_small:
            note(
                CODE_NOTE_TOO_SMALL,
                f"The image is only {classifier.width}x{classifier.height} pixels: too small for the "
                "classifier's score to count.",
                width=classifier.width,
                height=classifier.height,
            )
        contributions.append(
            {
                "layer": "classifier",
                "signal": "classifier",
                "p_ai": classifier_p,
                "p_ai_reencoded": classifier.p_ai_perturbed,
                "log_odds": weight,
                "reliable": not (unstable or too_small),
            }
        )

    unverified_by_layer: dict[str, float] = {}
    for finding in findings:
        weight = finding_log_odds(finding)
        contributions.append(
            {
                "layer": finding.layer,
                "signal": finding.signal,
                "direction": finding.direction,
                "strength": finding.strength,
                "verified": bool(finding.verified),
                "log_odds": weight,
                "line": finding.line,
                "code": finding.code,
                "params": finding.params,
            }
        )
        if not weight:
            continue
        if _counted_as(finding)[0]:
            trusted += weight
        else:
            unverified_by_layer[finding.layer] = unverified_by_layer.get(finding.layer, 0.0) + weight
    for layer, total in unverified_by_layer.items():
        capped = max(-UNVERIFIED_LAYER_CAP, min(UNVERIFIED_LAYER_CAP, total))
        if capped != total:
            note(
                CODE_NOTE_LAYER_CAPPED,
                f"Unverified {layer} evidence counts once, capped at {UNVERIFIED_LAYER_CAP:g} log-odds.",
                layer=layer,
                cap=f"{UNVERIFIED_LAYER_CAP:g}",
            )
        groups[layer] = capped

    total = trusted + sum(groups.values())
    p_ai = _sigmoid(total)
    verdict = verdict_for(p_ai, thresholds)
    held = False
    if verdict != UNCERTAIN and perturbed_shift and verdict_for(_sigmoid(total + perturbed_shift), thresholds) != verdict:
        held = True
        note(
            CODE_NOTE_UNSTABLE,
            "Unstable: a slightly altered copy of the image (saved again, a little smaller) would get a different "
            "verdict, so the result is read as uncertain and a person decides."
        )
    if verdict != UNCERTAIN and not held:
        for layer, weight in groups.items():
            if verdict_for(_sigmoid(total - weight), thresholds) != verdict:
                held = True
                note(
                    CODE_NOTE_WITHOUT_EVIDENCE,
                    f"Without the unverified {layer} evidence the verdict would differ, and that evidence alone "
                    "cannot decide: read as uncertain so that a person looks.",
                    layer=layer,
                )
                break
    if too_small and not any(c.get("log_odds") for c in contributions):
        verdict = UNCERTAIN  # nothing was read at all: no score, no finding
    if held:
        verdict = UNCERTAIN
    if not findings and classifier is not None and not (unstable or too_small):
        note(CODE_NOTE_ONLY_CLASSIFIER, "Only the classifier spoke; missing metadata is not evidence either way.")
    if verdict == LIKELY_AI:
        note(CODE_NOTE_MACHINE_READING, "A machine reading, not a finding of fact: a person decides.")
    elif verdict == LIKELY_HUMAN and any(f.direction == TOWARDS_AI for f in findings):
        note(CODE_NOTE_OUTWEIGHED, "Some evidence pointed to AI; it was outweighed.")
    return FusionResult(
        p_ai=p_ai,
        verdict=verdict,
        policy_version=FUSION_VERSION,
        classifier_p_ai=classifier_p,
        unstable=unstable,
        too_small=too_small,
        held_uncertain=held,
        contributions=contributions,
        notes=notes,
        coded_notes=coded_notes,
    )
