"""Channel correlations: the early stages' texture statistics beside the multi-level probe's crop vector."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from tests.images import write_manifest_folder
from tests.ml.test_whole_view import FOUR_SOURCES, SIZE, _retrained

from detector.ml.multilevel import CORRELATION_FEATURES, MULTILEVEL_ARCH, NUM_FEATURES, channel_correlations


def test_channel_correlations_are_one_for_the_same_channel_and_minus_one_for_its_negative():
    rng = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 1, 8, 8, generator=rng), torch.randn(1, 1, 8, 8, generator=rng)
    maps = torch.cat([a, 2 * a + 3, -a, b], 1)  # (1, 4, 8, 8)
    corr = channel_correlations(maps)[0]
    # upper triangle, row by row: (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)
    assert corr.shape == (6,)
    assert corr[0].item() == pytest.approx(1.0, abs=1e-6), "a channel and a scaled, shifted copy move together"
    assert corr[1].item() == pytest.approx(-1.0, abs=1e-6) and corr[3].item() == pytest.approx(-1.0, abs=1e-6)
    assert abs(corr[2].item()) < 1.0 and corr[4].item() == pytest.approx(corr[2].item(), abs=1e-6)
    assert corr[5].item() == pytest.approx(-corr[2].item(), abs=1e-6)
    flat = torch.cat([a, torch.ones(1, 1, 8, 8)], 1)
    assert torch.isfinite(channel_correlations(flat)).all(), "a flat channel gives a number, not NaN"


def test_a_model_with_channel_correlations_reads_the_same_vector_followed_by_them():
    from detector.ml.architectures import create_model, model_for_state_dict

    plain = create_model(MULTILEVEL_ARCH, pretrained=True, whole_view=True).eval()
    textured = create_model(MULTILEVEL_ARCH, pretrained=True, whole_view=True, channel_correlations=True).eval()
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.inference_mode():
        base, both = plain.forward_features(x), textured.forward_features(x)
        whole = textured.whole_view_features(x)
    assert both.shape == (2, NUM_FEATURES + CORRELATION_FEATURES) and CORRELATION_FEATURES == 4832
    assert torch.allclose(both[:, :NUM_FEATURES], base, atol=1e-5), "the multi-level part is unchanged"
    assert (both[:, NUM_FEATURES:].abs() <= 1.0 + 1e-5).all(), "correlations lie in [-1, 1]"
    assert whole.shape == (2, NUM_FEATURES), "the whole view never reads them"
    rebuilt = model_for_state_dict(MULTILEVEL_ARCH, textured.state_dict())
    assert rebuilt.channel_correlations and not model_for_state_dict(MULTILEVEL_ARCH, plain.state_dict()).channel_correlations
    rebuilt.load_state_dict(textured.state_dict(), strict=True)


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """A whole-view probe that also reads channel correlations, trained by train_detector on real files."""
    from django.core.management import call_command

    root = tmp_path_factory.mktemp("corr")
    data = write_manifest_folder(root / "data", FOUR_SOURCES)
    output = root / "corr.pt"
    call_command("train_detector", str(data), "--output", str(output), "--method", "probe", "--arch", MULTILEVEL_ARCH,
                 "--folds", "2", "--input-size", str(SIZE), "--train-variants", "original", "--cache-dir",
                 str(root / "cache"), "--whole-view", "--channel-correlations", stdout=open(root / "log.txt", "w"))
    return SimpleNamespace(root=root, data=data, output=output)


def test_a_probe_with_channel_correlations_stores_and_says_so_and_caches_them_apart(probe):
    from detector.ml.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(probe.output)
    assert checkpoint.state_dict["classifier.weight"].shape == (1, NUM_FEATURES + CORRELATION_FEATURES)
    assert checkpoint.state_dict["whole_classifier.weight"].shape == (1, NUM_FEATURES)
    assert checkpoint.training_args["channel_correlations"] is True
    assert "channel correlations" in checkpoint.metrics["features"]
    assert checkpoint.metrics["protocol"]["channel_correlations"] is True
    # The multi-level crop vectors stay in the folder models without correlations read.
    crops = list((probe.root / "cache" / "lite0-multilevel" / "original").glob("*.npy"))
    corr = list((probe.root / "cache" / "lite0-multilevel-corr" / "original").glob("*.npy"))
    assert len(crops) == len(corr) == 30
    assert np.load(crops[0]).shape == (NUM_FEATURES,) and np.load(corr[0]).shape == (CORRELATION_FEATURES,)


def test_the_app_scores_a_probe_with_channel_correlations_with_the_features_it_was_trained_on(probe):
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.explain import heatmap
    from detector.ml.inference import load_detector
    from detector.ml.probe import FeatureExtractor

    checkpoint = read_checkpoint(probe.output)
    detector = load_detector(probe.output)
    image = Image.fromarray(np.random.default_rng(4).integers(0, 256, (90, 150, 3), dtype=np.uint8))
    features = FeatureExtractor(detector.model, detector.preprocessing).features_of_image(image)
    assert features.shape == (2 * NUM_FEATURES + CORRELATION_FEATURES,)
    weight = torch.cat([checkpoint.state_dict["classifier.weight"], checkpoint.state_dict["whole_classifier.weight"]], 1)
    expected = float(weight[0].double() @ torch.from_numpy(features).double()) + float(checkpoint.state_dict["classifier.bias"])
    assert detector.score(image).logit == pytest.approx(expected, abs=1e-3)
    assert load_detector(probe.output, optimize="torchscript").score(image).logit == pytest.approx(expected, abs=1e-3)
    assert heatmap(detector, image).grid.shape[0] > 0, "Grad-CAM explains the final features' part"
    assert detector.embed_batch([image]).shape == (1, 1280)


def test_a_retrain_keeps_the_parents_channel_correlations(probe, settings, tmp_path):
    _parent, child, _output = _retrained(probe, settings, tmp_path)
    assert child.training_args["channel_correlations"] is True
    assert child.state_dict["classifier.weight"].shape == (1, NUM_FEATURES + CORRELATION_FEATURES)


# The CLI refusals and evaluate_detector with --channel-correlations: tests/ml/test_whole_view.py (MULTILEVEL_OPTIONS).
