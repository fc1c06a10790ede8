"""scripts/experiments/partial_finetune.py: its cache and tail reproduce the shipped probe before training.

The experiment's comparison with the shipped model is only fair if its "nothing trained" starting
point is the shipped recipe itself: the cached frozen vector must be the probe's feature, and the
tail with the probe's head must score as the probe does, before a single step moves it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detector.ml.multilevel import MULTILEVEL_ARCH
from detector.ml.preprocessing import Preprocessing
from detector.ml.probe import FeatureExtractor, fit_linear_head
from tests.images import photo_like
from tests.scripts import load_script


@pytest.fixture(scope="module")
def experiment():
    return load_script("experiments/partial_finetune.py")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    paths = []
    for seed, size in enumerate([(300, 240), (240, 240), (500, 260), (120, 90)]):
        path = folder / f"{seed}.png"
        photo_like(seed, size).save(path)
        paths.append(path)
    return paths


def test_the_untrained_tail_scores_exactly_as_the_frozen_probe(experiment, pictures, tmp_path):
    torch.set_num_threads(1)
    model = experiment.create_multilevel(pretrained=True).eval()
    preprocessing = Preprocessing(input_size=224, max_tiles=5)
    entries = [experiment.cached_entry(model, preprocessing, tmp_path, p, "jpeg75_half") for p in pictures]
    probe_features = FeatureExtractor.imagenet(preprocessing, arch=MULTILEVEL_ARCH).features(pictures, "jpeg75_half")
    cached = np.stack([e["full"] for e in entries])
    np.testing.assert_allclose(cached, probe_features, rtol=1e-5, atol=1e-5)
    assert [len(e["maps"]) for e in entries] == [len(e["stats"]) for e in entries]
    assert entries[0]["maps"].shape[1:] == (112, 14, 14)
    assert entries[0]["stats"].shape[1] == experiment.FROZEN_STATS

    labels = np.array([0, 1, 0, 1])
    head = fit_linear_head(cached, labels, l2=0.1)
    tail = experiment.Tail(model, {6}, head, cached.mean(0), cached.std(0) + 1e-6)
    tail_logits = experiment.image_logits(tail, entries, np.arange(len(entries)))
    # float16 maps: agreement to about 1e-3 of logits of order 1-10
    np.testing.assert_allclose(tail_logits, head.logits(cached), atol=5e-3)

    # a cached entry is read back, not recomputed, and only stage 6 + head train for --stages 6
    again = experiment.cached_entry(model, preprocessing, tmp_path, pictures[0], "jpeg75_half")
    np.testing.assert_array_equal(again["maps"], entries[0]["maps"])
    trainable = {name.split(".")[0] for name, p in tail.named_parameters() if p.requires_grad}
    assert trainable == {"stage6", "conv_head", "bn2", "linear"}

    trained = experiment.train_tail(model, {v: entries for v in experiment.VARIANTS}, labels, np.ones(4), np.arange(4),
                                    head, cached.mean(0), cached.std(0) + 1e-6, stages={6}, epochs=1, lr=1e-2,
                                    batch=4, seed=0)
    assert not np.allclose(experiment.image_logits(trained, entries, np.arange(4)), tail_logits)
