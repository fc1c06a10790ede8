import copy
import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from detector.ml.datasets import Sample
from detector.ml.inference import load_detector, set_torch_threads
from detector.ml.stability import StabilityResult, measure_stability, perturbed_copy, stability_check
from detector.policy import LIKELY_AI, LIKELY_HUMAN, UNCERTAIN, verdict_for


@pytest.fixture(scope="module")
def detector(detector_checkpoint):
    return load_detector(detector_checkpoint)


def _rgb(width, height, seed=0):
    rng = np.random.default_rng(seed)
    # Smooth colour ramps plus noise: something JPEG and resizing actually change.
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 / width, ys * 255 / height, (xs + ys) * 127 / (width + height)], axis=2)
    return Image.fromarray(np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8))


def _with_thresholds(detector, likely_ai, likely_human):
    other = copy.copy(detector)
    other.thresholds = {"likely_ai": likely_ai, "likely_human": likely_human}
    return other


def test_perturbed_copy_is_resized_and_jpeg_reencoded():
    image = _rgb(200, 100)
    copy_ = perturbed_copy(image)
    assert copy_.format == "JPEG" and copy_.mode == "RGB"
    assert copy_.size == (180, 90)
    buffer = io.BytesIO()
    image.resize((180, 90), Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=90)
    assert np.array_equal(np.asarray(copy_), np.asarray(Image.open(buffer)))
    assert not np.array_equal(np.asarray(copy_), np.asarray(image.resize((180, 90), Image.Resampling.BICUBIC)))
    low = perturbed_copy(image, jpeg_quality=30, scale=1.0)
    assert low.size == image.size and low.format == "JPEG"
    assert not np.array_equal(np.asarray(low), np.asarray(perturbed_copy(image, scale=1.0)))
    rgba = Image.fromarray(np.zeros((40, 50, 4), dtype=np.uint8), "RGBA")  # fully transparent
    flattened = perturbed_copy(rgba)
    assert flattened.mode == "RGB" and flattened.size == (45, 36)
    assert np.asarray(flattened).min() >= 250  # composited on white, as scoring does
    with pytest.raises(ValueError):
        perturbed_copy(image, jpeg_quality=0)
    with pytest.raises(ValueError):
        perturbed_copy(image, scale=0)


def test_check_scores_the_image_and_its_perturbed_copy(detector):
    image = _rgb(120, 90, seed=1)
    result = stability_check(detector, image)
    assert isinstance(result, StabilityResult)
    assert result.p_ai == pytest.approx(detector.score(image).p_ai, abs=1e-6)
    assert result.p_ai_perturbed == pytest.approx(detector.score(perturbed_copy(image)).p_ai, abs=1e-6)
    assert result.p_ai != result.p_ai_perturbed


def test_verdict_boundaries():
    thresholds = {"likely_ai": 0.8, "likely_human": 0.2}
    assert verdict_for(0.8, thresholds) == LIKELY_AI
    assert verdict_for(0.2, thresholds) == LIKELY_HUMAN
    assert verdict_for(0.5, thresholds) == UNCERTAIN
    assert verdict_for(0.9, SimpleNamespace(likely_ai=0.95, likely_human=0.1)) == UNCERTAIN
    with pytest.raises(ValueError):
        verdict_for(0.5, {"likely_ai": 0.2, "likely_human": 0.8})


def test_flipped_only_when_the_verdicts_differ(detector):
    image = _rgb(80, 64, seed=1)
    probe = stability_check(detector, image)
    low, high = sorted((probe.p_ai, probe.p_ai_perturbed))
    assert low < high

    # Both at or above likely_ai: stable.
    stable = stability_check(_with_thresholds(detector, low * 0.99, low * 0.5), image)
    assert (stable.verdict, stable.verdict_perturbed, stable.flipped) == (LIKELY_AI, LIKELY_AI, False)
    assert stable.final_verdict == LIKELY_AI

    # Both in the uncertain band: stable.
    band = stability_check(_with_thresholds(detector, (high + 1) / 2, low / 2), image)
    assert (band.verdict, band.flipped, band.final_verdict) == (UNCERTAIN, False, UNCERTAIN)

    # likely_ai between the two scores: one likely_ai, one uncertain.
    split_ai = stability_check(_with_thresholds(detector, (low + high) / 2, low / 2), image)
    assert split_ai.flipped and split_ai.final_verdict == UNCERTAIN
    assert {split_ai.verdict, split_ai.verdict_perturbed} == {LIKELY_AI, UNCERTAIN}
    assert split_ai.verdict == (LIKELY_AI if probe.p_ai > probe.p_ai_perturbed else UNCERTAIN)

    # likely_human between the two scores: one likely_human, one uncertain.
    split_human = stability_check(_with_thresholds(detector, (high + 1) / 2, (low + high) / 2), image)
    assert split_human.flipped and split_human.final_verdict == UNCERTAIN
    assert {split_human.verdict, split_human.verdict_perturbed} == {LIKELY_HUMAN, UNCERTAIN}

    # Thresholds passed explicitly win over the detector's own.
    policy_like = SimpleNamespace(likely_ai=(low + high) / 2, likely_human=low / 2)
    explicit = stability_check(detector, image, thresholds=policy_like)
    assert explicit == split_ai


def test_measure_stability_counts_what_the_rule_changes(detector, tmp_path):
    images = [_rgb(64, 64, seed=2), _rgb(64, 64, seed=3)]
    probes = [stability_check(detector, image) for image in images]
    paths = []
    for name, image in zip(("real.png", "ai.png"), images):
        image.save(tmp_path / name)
        paths.append(tmp_path / name)
    originals = [p.p_ai for p in probes]
    perturbed = [p.p_ai_perturbed for p in probes]
    if not max(perturbed) < min(originals):
        pytest.skip("the test images do not all score lower once re-encoded")

    # likely_ai between every image's two scores: both likely_ai verdicts turn uncertain.
    cut = _with_thresholds(detector, (max(perturbed) + min(originals)) / 2, min(perturbed) / 2)
    report = measure_stability(cut, paths, ["real", "ai"])
    assert (report.real, report.ai, report.flipped) == (1, 1, 2)
    assert (report.real_likely_ai, report.false_positives_saved) == (1, 1)
    assert (report.ai_likely_ai, report.true_positives_lost) == (1, 1)
    assert report.real_likely_human_to_uncertain == report.ai_likely_human_to_uncertain == 0
    assert report.seconds_check > 0 and report.seconds_score > 0
    assert report.max_abs_delta_p == pytest.approx(max(o - p for o, p in zip(originals, perturbed)), abs=1e-6)
    assert [r.p_ai for r in report.results] == pytest.approx(originals, abs=1e-6)

    # likely_ai below every score, images given as Samples: nothing flips, nothing saved or lost.
    below = _with_thresholds(detector, min(perturbed) * 0.99, min(perturbed) / 2)
    samples = [
        Sample(path=str(paths[0]), label=0, source="t", group="a"),
        Sample(path=str(paths[1]), label=1, source="t", group="b"),
    ]
    report = measure_stability(below, samples)
    assert (report.real_likely_ai, report.false_positives_saved, report.flipped) == (1, 0, 0)
    assert (report.ai_likely_ai, report.true_positives_lost) == (1, 0)
    with pytest.raises(ValueError):
        measure_stability(below, paths, ["real"])
    with pytest.raises(ValueError):
        measure_stability(below, paths, ["real", "fake"])


def test_optimised_detector_gives_the_same_check(detector, detector_checkpoint):
    # The CPU options of inference.py must not change what the stability check decides.
    image = _rgb(150, 100, seed=9)
    eager = stability_check(detector, image)
    previous = set_torch_threads(None)
    try:
        assert set_torch_threads(1) == 1
        scripted = load_detector(detector_checkpoint, optimize="torchscript", tiles_per_forward=1)
        optimised = stability_check(scripted, image)
    finally:
        set_torch_threads(previous)
    assert scripted is not detector and scripted.optimize == "torchscript"
    assert scripted.model is not detector.model and not scripted.model.training
    assert optimised.p_ai == pytest.approx(eager.p_ai, abs=1e-5)
    assert optimised.p_ai_perturbed == pytest.approx(eager.p_ai_perturbed, abs=1e-5)
    assert (optimised.verdict, optimised.verdict_perturbed) == (eager.verdict, eager.verdict_perturbed)
    with pytest.raises(ValueError):
        load_detector(detector_checkpoint, optimize="fast")
    with pytest.raises(ValueError):
        set_torch_threads(0)
