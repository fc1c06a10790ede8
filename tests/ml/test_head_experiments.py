"""scripts/experiments/mlp_head.py and family_nonlinear.py: the heads they compare do what they claim.

The comparison of a linear head with an MLP and with nearest labels is only worth reading if the
MLP really can learn what a linear head cannot, if calibration stays the shipped Platt scaling
while the MLP stands in for the head, and if "nearest labels" ranks a near copy of a label first.
"""

from __future__ import annotations

import numpy as np
import pytest

from detector.ml.metrics import roc_auc
from detector.ml.probe import LinearHead, fit_linear_head
from tests.scripts import load_script


@pytest.fixture(scope="module")
def mlp_head():
    return load_script("experiments/mlp_head.py")


@pytest.fixture(scope="module")
def family_nonlinear():
    return load_script("experiments/family_nonlinear.py")


def xor_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(float)
    return x, y


def test_the_mlp_head_learns_a_boundary_a_linear_head_cannot(mlp_head):
    x, y = xor_data(600, 0)
    test_x, test_y = xor_data(400, 1)
    linear = fit_linear_head(x, y, l2=0.1)
    mlp = mlp_head.fit_mlp_head(x, y, hidden=32, decay=0.01, epochs=300, seeds=2, dropout=0.0)
    assert roc_auc(test_y, linear.logits(test_x)) < 0.65
    assert roc_auc(test_y, mlp.logits(test_x)) > 0.9


def test_calibration_stays_linear_when_the_mlp_replaces_the_head(mlp_head):
    x, y = xor_data(200, 2)
    fit = mlp_head.mlp_fitter(fit_linear_head, hidden=8, decay=0.01)
    assert isinstance(fit(x[:, :1], y), LinearHead)  # Platt scaling fits one column
    assert isinstance(fit(x, y), mlp_head.MLPHead)


def test_nearest_labels_rank_a_near_copy_of_a_label_above_other_images(family_nonlinear):
    rng = np.random.default_rng(3)
    family, real = rng.normal(size=(10, 16)), rng.normal(size=(40, 16))
    tests = np.r_[family[:1] + 0.01 * rng.normal(size=(1, 16)), rng.normal(size=(5, 16))]
    scores = family_nonlinear.knn_scores(family, real, tests, k=1)
    assert scores.argmax() == 0
    assert scores[0] > scores[1:].max() + 0.3
