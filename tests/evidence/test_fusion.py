"""The fusion rule: how findings and the classifier score become P(AI) and a verdict."""

import pytest

from detector.evidence import Finding
from detector.evidence.fusion import FUSION_VERSION, ClassifierReading, fuse
from detector.policy import Thresholds

T = Thresholds(likely_ai=0.87, likely_human=0.2)


def f(layer, signal, direction, strength, verified=False):
    return Finding(layer=layer, signal=signal, direction=direction, strength=strength, line=f"{signal} says {direction}", verified=verified)


A1111 = f("provenance", "png_generator_parameters", "ai", "moderate")
SOFTWARE = f("provenance", "software_tag", "ai", "weak")
WATERMARK = f("watermark", "sd_watermark", "ai", "moderate")
CAMERA = f("provenance", "camera_exif", "human", "weak")
C2PA_AI = f("provenance", "c2pa", "ai", "strong", verified=True)
REVIEWED_AI = f("known_image", "reviewer_label_match", "ai", "strong", verified=True)
REVIEWED_HUMAN = f("known_image", "reviewer_label_match", "human", "strong", verified=True)
UNREADABLE = f("provenance", "c2pa", "unreadable", "none")


def reading(p, perturbed=None, size=(800, 600)):
    return ClassifierReading(p_ai=p, p_ai_perturbed=perturbed, width=size[0], height=size[1])


def test_without_findings_the_classifier_score_is_the_answer():
    result = fuse(classifier=reading(0.93), findings=[], thresholds=T)
    assert result.p_ai == pytest.approx(0.93) and result.verdict == "likely_ai"
    assert result.policy_version == FUSION_VERSION
    assert any("missing metadata is not evidence" in n for n in result.notes)


def test_one_unsigned_marker_alone_never_makes_a_verdict():
    result = fuse(classifier=reading(0.6), findings=[A1111], thresholds=T)
    assert result.p_ai > 0.87  # the score moves...
    assert result.verdict == "uncertain" and result.held_uncertain  # ...but a person decides
    # Several markers from the same tool count once.
    again = fuse(classifier=reading(0.6), findings=[A1111, SOFTWARE], thresholds=T)
    assert again.verdict == "uncertain"


def test_unsigned_metadata_can_send_a_human_looking_image_to_review_but_not_accuse_it():
    result = fuse(classifier=reading(0.1), findings=[A1111], thresholds=T)
    assert result.verdict == "uncertain"


def test_two_independent_layers_agreeing_can_make_a_verdict():
    result = fuse(classifier=reading(0.6), findings=[A1111, WATERMARK], thresholds=T)
    assert result.verdict == "likely_ai" and not result.held_uncertain


def test_camera_exif_alone_cannot_clear_an_image_the_classifier_flags():
    result = fuse(classifier=reading(0.88), findings=[CAMERA], thresholds=T)
    assert result.verdict == "uncertain"


def test_verified_evidence_decides_on_its_own():
    assert fuse(classifier=reading(0.1), findings=[C2PA_AI], thresholds=T).verdict == "likely_ai"
    assert fuse(classifier=reading(0.1), findings=[REVIEWED_AI], thresholds=T).verdict == "likely_ai"
    cleared = fuse(classifier=reading(0.95), findings=[REVIEWED_HUMAN], thresholds=T)
    assert cleared.verdict == "likely_human"


def test_unreadable_and_neutral_findings_count_for_nothing():
    result = fuse(classifier=reading(0.5), findings=[UNREADABLE, f("provenance", "xmp_creator_tool", "none", "none")], thresholds=T)
    assert result.p_ai == pytest.approx(0.5)
    assert [c["log_odds"] for c in result.contributions[1:]] == [0.0, 0.0]


def test_a_verdict_a_resave_flips_reads_uncertain_even_with_weak_support():
    assert fuse(classifier=reading(0.9, perturbed=0.5), findings=[], thresholds=T).verdict == "uncertain"
    # Strong verified evidence still decides: the re-save question is about the pixels only.
    assert fuse(classifier=reading(0.9, perturbed=0.5), findings=[REVIEWED_AI], thresholds=T).verdict == "likely_ai"


def test_a_thumbnail_is_judged_only_on_other_evidence():
    tiny = fuse(classifier=reading(0.99, size=(32, 32)), findings=[], thresholds=T)
    assert tiny.verdict == "uncertain" and tiny.too_small and tiny.p_ai == pytest.approx(0.5)
    matched = fuse(classifier=reading(0.99, size=(32, 32)), findings=[REVIEWED_AI], thresholds=T)
    assert matched.verdict == "likely_ai"


def test_every_input_is_listed_with_its_weight():
    result = fuse(classifier=reading(0.6), findings=[A1111, WATERMARK, CAMERA], thresholds=T)
    layers = [c["layer"] for c in result.contributions]
    assert layers == ["classifier", "provenance", "watermark", "provenance"]
    assert result.as_dict()["contributions"][1]["line"] == "png_generator_parameters says ai"
