"""scripts/experiments/source_directions.py: the head it compares really cannot read the removed directions.

The experiment's rows are only worth reading if the head with R source directions removed gives
the same logit to two images that differ only along those directions, if R = 0 is the shipped
head, and if the class difference itself is never among what is removed.
"""

from __future__ import annotations

import numpy as np
import pytest

from detector.ml.probe import fit_linear_head
from tests.scripts import load_script


@pytest.fixture(scope="module")
def experiment():
    return load_script("experiments/source_directions.py")


def sources_data(seed=0):
    """Two copies of 480 images from 8 sources (4 real, 4 AI); feature 0 carries the class, features 1-2
    carry which source an image came from (and a little of the class)."""
    rng = np.random.default_rng(seed)
    n = 480
    source = np.arange(n) % 8
    y = (source >= 4).astype(float)
    x = rng.normal(size=(n, 12))
    x[:, 0] += 1.5 * y
    x[:, 1] += 3.0 * (source % 4) + 0.5 * y
    x[:, 2] += 2.0 * (source % 2)
    copies = np.concatenate([x, x + 0.2 * rng.normal(size=x.shape)])
    return copies, np.concatenate([y, y]), np.concatenate([source, source]).astype(str)


def test_without_directions_the_head_is_the_shipped_head(experiment):
    x, y, groups = sources_data()
    shipped = fit_linear_head(x, y, np.ones(len(y)), l2=0.1, copies=2)
    head = experiment.fit_invariant_head(x, y, np.ones(len(y)), groups, 0, l2=0.1, copies=2)
    assert np.allclose(head.logits(x), shipped.logits(x), atol=1e-6)


def test_moving_an_image_along_a_removed_direction_leaves_its_logit_unchanged(experiment):
    x, y, groups = sources_data()
    head = experiment.fit_invariant_head(x, y, np.ones(len(y)), groups, 2, l2=0.1, copies=2, resave=True)
    mean, std = x.mean(0), x.std(0) + 1e-6
    basis = experiment.source_directions((x - mean) / std, y, groups, 2, copies=2, resave=True)
    assert basis.shape == (12, 4)
    assert np.allclose(basis.T @ basis, np.eye(4), atol=1e-8)
    moved = x + 5.0 * (basis[:, 0] * std)  # a step along the first removed direction, in raw units
    assert np.allclose(head.logits(moved), head.logits(x), atol=1e-8)
    plain = fit_linear_head(x, y, np.ones(len(y)), l2=0.1, copies=2)
    assert not np.allclose(plain.logits(moved), plain.logits(x), atol=1e-3)


def test_the_class_difference_is_never_removed(experiment):
    x, y, groups = sources_data(1)
    xs = (x - x.mean(0)) / x.std(0)
    basis = experiment.source_directions(xs, y, groups, 6, copies=2)
    means = {label: np.mean([xs[(groups == g) & (y == label)].mean(0) for g in set(groups[y == label])], axis=0)
             for label in (0.0, 1.0)}
    class_direction = means[1.0] - means[0.0]
    assert np.abs(basis.T @ class_direction).max() < 1e-8 * np.linalg.norm(class_direction)


def test_only_real_sources_can_be_asked_for(experiment):
    x, y, groups = sources_data(2)
    xs = (x - x.mean(0)) / x.std(0)
    real_only = experiment.source_directions(xs, y, groups, 8, copies=2, classes=(0,))
    both = experiment.source_directions(xs, y, groups, 8, copies=2)
    assert real_only.shape[1] == 3  # 4 real sources' deviations from their mean span 3 directions
    assert both.shape[1] > real_only.shape[1]
