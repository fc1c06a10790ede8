"""scripts/experiments/npr_share_by_format.py: its pixel reading of "was JPEG-compressed" and its mix.

The experiment's "pixels" rows are only worth reading if the comb score tells JPEG-compressed
pixels from never-compressed ones whatever container holds them, and if the mix gives the JPEG
share to the flagged images only.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tests.scripts import load_script


@pytest.fixture(scope="module")
def experiment():
    return load_script("experiments/npr_share_by_format.py")


def textured_image(seed: int, size=(320, 256)) -> Image.Image:
    """Smooth shapes plus noise: like a photo, not like flat clip art."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize(size, Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    pixels = np.asarray(image, dtype=np.int16) + rng.integers(-12, 13, size=(size[1], size[0], 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def reopened(image: Image.Image, fmt: str, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        decoded.load()
        return decoded.convert("RGB")


def test_jpeg_pixels_read_as_compressed_in_any_container_and_fresh_pixels_do_not(experiment):
    score = experiment.jpeg_quantisation_score
    for seed in range(3):
        fresh = textured_image(seed)
        jpeg = reopened(fresh, "JPEG", quality=75)
        assert score(fresh) < experiment.PIXEL_JPEG_SCORE
        assert score(reopened(fresh, "PNG")) < experiment.PIXEL_JPEG_SCORE
        assert score(jpeg) >= experiment.PIXEL_JPEG_SCORE
        # The same JPEG pixels saved as a lossless PNG read the same: the score is the pixels', not the file's.
        assert score(reopened(jpeg, "PNG")) == pytest.approx(score(jpeg))


def test_the_jpeg_share_applies_to_flagged_images_only(experiment):
    probe, npr = np.array([1.0, 1.0]), np.array([-1.0, -1.0])
    mix = experiment.mixed(probe, npr, np.array([True, False]), w_jpeg=0.0, w_other=0.5)
    assert mix.tolist() == [1.0, 0.0]
