"""Image variants of the robustness and container checks, made in memory."""

import io

import numpy as np
from PIL import Image

from detector.ml import image_variants as variants

from ..images import image_bytes

ROBUSTNESS = {"jpeg_q75", "jpeg_q50", "resize_0.5x", "centre_crop_50pct"}


def test_variants_are_made_in_memory():
    image = Image.open(io.BytesIO(image_bytes("PNG", size=(90, 60), seed=3))).convert("RGB")
    assert np.array_equal(np.asarray(variants.png(image)), np.asarray(image))
    assert variants.half_size(image).size == (45, 30)
    crop = variants.centre_crop(image)
    assert crop.size == (64, 42) and abs(crop.size[0] * crop.size[1] / (90 * 60) - 0.5) < 0.01
    for quality in (95, 75, 50):
        assert variants.jpeg(image, quality).size == image.size
    assert set(variants.ROBUSTNESS_VARIANTS) == ROBUSTNESS and set(variants.CONTAINER_VARIANTS) == {"png", "jpeg_q95"}
