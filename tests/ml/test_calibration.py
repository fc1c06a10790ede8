import itertools

import numpy as np
import pytest

from detector.ml.calibration import choose_thresholds, fit_temperature
from detector.ml.metrics import roc_auc, sigmoid


def brute_force_auc(labels, scores):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_roc_auc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    scores = rng.integers(0, 6, 60).astype(float)  # many ties
    assert roc_auc(labels, scores) == pytest.approx(brute_force_auc(labels, scores))
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert np.isnan(roc_auc([1, 1], [0.1, 0.2]))


def test_sigmoid_is_stable():
    assert sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist() == [0.0, 0.5, 1.0]


def test_temperature_recovers_overconfidence():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(0, 2, 20000)
    labels = (rng.random(20000) < sigmoid(true_logits)).astype(int)
    temperature = fit_temperature(true_logits * 3.0, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)


def test_likely_ai_is_the_lowest_threshold_with_at_most_one_percent_false_positives():
    real = np.concatenate([np.linspace(0.0, 0.6, 198), [0.7, 0.95]])  # 200 real images
    ai = np.linspace(0.3, 1.0, 200)
    p = np.concatenate([real, ai])
    labels = np.array([0] * 200 + [1] * 200)
    thresholds, info = choose_thresholds(p, labels)
    # two real images at >= 0.7 would be 1%: allowed; the threshold just above 0.6 keeps it there
    assert thresholds["likely_ai"] == pytest.approx(0.6001)
    assert np.mean(real >= thresholds["likely_ai"]) <= 0.01
    assert info["likely_ai_target_met"]
    assert thresholds["likely_human"] == 0.2  # no AI image below 0.3


def test_likely_ai_falls_back_to_0_9_when_real_images_saturate():
    p = np.array([1.0] * 5 + [0.1] * 95 + [1.0] * 100)
    labels = np.array([0] * 100 + [1] * 100)
    thresholds, info = choose_thresholds(p, labels)
    assert thresholds["likely_ai"] == 0.9 and not info["likely_ai_target_met"]


def test_likely_ai_stays_at_0_9_or_above_when_too_few_real_images_were_scored():
    p = np.array([0.1, 0.2, 0.3, 0.9, 0.95, 0.99])
    labels = np.array([0, 0, 0, 1, 1, 1])
    thresholds, info = choose_thresholds(p, labels)
    assert thresholds["likely_ai"] == 0.9 and not info["likely_ai_target_met"]
    assert "only 3 real validation images" in info["likely_ai_note"]


def test_likely_human_is_lowered_until_ai_images_below_it_are_rare():
    ai = np.concatenate([np.linspace(0.02, 0.19, 20), np.full(80, 0.9)])
    p = np.concatenate([np.full(100, 0.01), ai])
    labels = np.array([0] * 100 + [1] * 100)
    thresholds, info = choose_thresholds(p, labels)
    assert thresholds["likely_human"] < 0.2
    assert np.mean(ai < thresholds["likely_human"]) <= 0.05
    assert np.mean(ai < thresholds["likely_human"] + 0.01) > 0.05
    assert info["likely_human_target_met"]
