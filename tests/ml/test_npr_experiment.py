"""scripts/experiments/npr_patch.py: the NPR patch model sees what it claims to see.

Its comparison row is only worth reading if the residual really is the trace a 2x upsampling
leaves, if crops keep the file's own pixels (no resize that would erase that trace), and if the
network can learn an upsampling trace from scratch at all.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detector.ml.metrics import roc_auc
from tests.scripts import load_script


@pytest.fixture(scope="module")
def npr():
    return load_script("experiments/npr_patch.py")


def upsampled(rng, n, size):
    """Images made by 2x nearest-neighbour upsampling of noise: what a naive decoder leaves."""
    small = rng.integers(0, 256, size=(n, size // 2, size // 2, 3), dtype=np.uint8)
    return small.repeat(2, axis=1).repeat(2, axis=2)


def test_the_residual_is_zero_on_a_nearest_upsampled_image_and_not_on_noise(npr):
    rng = np.random.default_rng(0)
    traced = torch.from_numpy(upsampled(rng, 1, 32)).permute(0, 3, 1, 2).float()
    noise = torch.from_numpy(rng.integers(0, 256, size=(1, 32, 32, 3), dtype=np.uint8)).permute(0, 3, 1, 2).float()
    assert npr.npr_residual(traced).abs().max() == 0
    assert npr.npr_residual(noise).abs().mean() > 10


def test_crops_keep_the_files_own_pixels_at_even_offsets_and_pad_small_images(npr):
    rows, cols = np.meshgrid(np.arange(120), np.arange(90), indexing="ij")
    image = np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    crops = npr.random_crops(image, 32, 6, np.random.default_rng(1))
    assert crops.shape == (6, 32, 32, 3)
    for crop in crops:
        top, left = int(crop[0, 0, 0]), int(crop[0, 0, 1])
        assert top % 2 == 0 and left % 2 == 0
        np.testing.assert_array_equal(crop, image[top:top + 32, left:left + 32])
    small = npr.random_crops(image[:20, :24], 32, 2, np.random.default_rng(2))
    assert small.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(small[0, :20, :24], image[:20, :24])


def test_the_network_learns_an_upsampling_trace_from_scratch(npr):
    rng = np.random.default_rng(3)
    n = 160
    # Both classes share colours and content statistics; only the 2x2 pixel structure differs.
    smooth = upsampled(rng, n, 32)
    natural = np.clip(smooth.astype(int) + rng.integers(-12, 13, size=smooth.shape), 0, 255).astype(np.uint8)
    crops = np.concatenate([smooth, natural])[:, None, None]  # (images, variants, crops, h, w, 3)
    labels = np.array([1] * n + [0] * n)
    net = npr.train_npr(crops, labels, np.ones(2 * n), epochs=3, draws=640, batch=32, width=8, log=lambda *_: None)
    test_smooth = upsampled(rng, 40, 32)
    test_natural = np.clip(test_smooth.astype(int) + rng.integers(-12, 13, size=test_smooth.shape), 0, 255).astype(np.uint8)
    test = np.concatenate([test_smooth, test_natural])[:, None, None]
    logits = npr.crop_logits(net, test)[:, 0]
    assert roc_auc(np.array([1] * 40 + [0] * 40), logits) > 0.95
