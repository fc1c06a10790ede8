"""Stability check: does the verdict survive a mild re-encoding of the image?

Product rule: score the image and a mildly re-encoded copy of it (resized by `scale`,
bicubic, then saved as JPEG at `jpeg_quality`, as happens when an image is re-shared);
if the two verdicts differ, the image is reported as "uncertain". A detector that calls
a human's picture AI-generated only because of fragile pixel statistics then sends it to
a reviewer instead of labelling it.

`stability_check` is a pure function of (detector, image, options); the Django side turns
`StabilityResult.flipped` into the final verdict (`StabilityResult.final_verdict` is that
rule spelt out). `measure_stability` is the bench's helper: what the rule saves (real
images no longer called likely_ai) and costs (AI images no longer called likely_ai), and
the time it adds.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import PurePath

from PIL import Image

from .preprocessing import DEFAULT_ALPHA_BACKGROUND, to_rgb
from ..policy import LIKELY_AI, LIKELY_HUMAN, UNCERTAIN, verdict_for

DEFAULT_JPEG_QUALITY = 90
DEFAULT_SCALE = 0.9


@dataclass(frozen=True)
class StabilityResult:
    """Scores and verdicts of an image and of its re-encoded copy."""

    p_ai: float
    p_ai_perturbed: float
    verdict: str
    verdict_perturbed: str
    flipped: bool  # the two verdicts differ

    @property
    def final_verdict(self) -> str:
        """The product rule: "uncertain" when the verdict flipped, else the image's own verdict."""
        return UNCERTAIN if self.flipped else self.verdict


def perturbed_copy(
    image: Image.Image,
    *,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    scale: float = DEFAULT_SCALE,
    background: tuple[int, int, int] = DEFAULT_ALPHA_BACKGROUND,
) -> Image.Image:
    """The image resized by `scale` (bicubic) and re-encoded as JPEG at `jpeg_quality`.

    Returns the decoded JPEG (RGB, .format == "JPEG"). Transparency is flattened on
    `background` first, as scoring does.
    """
    jpeg_quality = int(jpeg_quality)
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality must be between 1 and 100, got {jpeg_quality}.")
    if not 0.0 < float(scale) <= 4.0:
        raise ValueError(f"scale must be above 0 and at most 4, got {scale}.")
    rgb = to_rgb(image, background)
    width, height = rgb.size
    if width < 1 or height < 1:
        raise ValueError("Image has no pixels.")
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if size != rgb.size:
            rgb = rgb.resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=jpeg_quality)
    buffer.seek(0)
    copy = Image.open(buffer)
    copy.load()
    return copy


def stability_check(
    detector,
    image: Image.Image,
    *,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    scale: float = DEFAULT_SCALE,
    thresholds=None,
) -> StabilityResult:
    """Score the image and its re-encoded copy in one score_batch call and compare verdicts.

    `thresholds` defaults to the detector's own (detector.thresholds); pass the thresholds
    actually in force (e.g. settings overrides) when they differ.
    """
    perturbed = perturbed_copy(
        image, jpeg_quality=jpeg_quality, scale=scale, background=detector.preprocessing.alpha_background
    )
    original_score, perturbed_score = detector.score_batch([image, perturbed])
    thresholds = detector.thresholds if thresholds is None else thresholds
    verdict = verdict_for(original_score.p_ai, thresholds)
    verdict_perturbed = verdict_for(perturbed_score.p_ai, thresholds)
    return StabilityResult(
        p_ai=original_score.p_ai,
        p_ai_perturbed=perturbed_score.p_ai,
        verdict=verdict,
        verdict_perturbed=verdict_perturbed,
        flipped=verdict != verdict_perturbed,
    )


@dataclass
class StabilityReport:
    """What the stability rule changes on a labelled set of images (label 1 = AI, 0 = real)."""

    real: int = 0
    ai: int = 0
    real_likely_ai: int = 0  # false positives without the rule
    false_positives_saved: int = 0  # real, likely_ai -> uncertain
    ai_likely_ai: int = 0  # true positives without the rule
    true_positives_lost: int = 0  # AI, likely_ai -> uncertain
    real_likely_human_to_uncertain: int = 0  # more review work
    ai_likely_human_to_uncertain: int = 0  # missed AI images now reviewed
    flipped: int = 0
    max_abs_delta_p: float = 0.0
    mean_abs_delta_p: float = 0.0
    seconds_score: float = 0.0  # mean per image, score() alone
    seconds_check: float = 0.0  # mean per image, stability_check()
    results: list = field(default_factory=list, repr=False)

    @property
    def extra_seconds_per_image(self) -> float:
        return self.seconds_check - self.seconds_score


def measure_stability(
    detector,
    samples_or_images,
    labels=None,
    *,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    scale: float = DEFAULT_SCALE,
    thresholds=None,
    timer=time.perf_counter,
) -> StabilityReport:
    """Run stability_check over labelled images and count what the rule changes.

    Items are PIL images, paths, or datasets.Sample objects. `labels` (1/"ai" = AI,
    0/"real" = real) may be left out for Samples, which carry their label.
    """
    items = list(samples_or_images)
    if labels is None:
        labels = [getattr(item, "label", None) for item in items]
    labels = [_label_value(label) for label in labels]
    if len(labels) != len(items):
        raise ValueError(f"{len(items)} images but {len(labels)} labels.")
    report = StabilityReport()
    deltas, score_time, check_time = [], 0.0, 0.0
    for item, label in zip(items, labels):
        image = _open(item)
        start = timer()
        detector.score(image)
        score_time += timer() - start
        start = timer()
        result = stability_check(detector, image, jpeg_quality=jpeg_quality, scale=scale, thresholds=thresholds)
        check_time += timer() - start
        report.results.append(result)
        deltas.append(abs(result.p_ai_perturbed - result.p_ai))
        report.flipped += result.flipped
        if label == 1:
            report.ai += 1
            report.ai_likely_ai += result.verdict == LIKELY_AI
            report.true_positives_lost += result.verdict == LIKELY_AI and result.flipped
            report.ai_likely_human_to_uncertain += result.verdict == LIKELY_HUMAN and result.flipped
        else:
            report.real += 1
            report.real_likely_ai += result.verdict == LIKELY_AI
            report.false_positives_saved += result.verdict == LIKELY_AI and result.flipped
            report.real_likely_human_to_uncertain += result.verdict == LIKELY_HUMAN and result.flipped
    if items:
        report.max_abs_delta_p = max(deltas)
        report.mean_abs_delta_p = sum(deltas) / len(deltas)
        report.seconds_score = score_time / len(items)
        report.seconds_check = check_time / len(items)
    return report


def _label_value(label) -> int:
    if label in (1, "ai", True):
        return 1
    if label in (0, "real", False):
        return 0
    raise ValueError(f"Unknown label {label!r}: use 1/'ai' or 0/'real'.")


def _open(item) -> Image.Image:
    if isinstance(item, Image.Image):
        return item
    path = getattr(item, "path", item)
    if not isinstance(path, (str, PurePath)):
        raise TypeError(f"Expected a PIL image, a path or a Sample, got {type(item).__name__}.")
    with Image.open(path) as image:
        image.load()
        return image.copy()
