"""Training augmentation that imitates what happens to images in the wild.

Uploads are resized, recoloured, sometimes blurred and almost always JPEG-compressed
before they reach us. In the training corpus nearly all AI images are PNG/WebP and
nearly all photos JPEG, so the container itself would be a perfect shortcut: both
classes are re-encoded, and lossless files more often, so that "has JPEG artefacts"
says little about the label.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import asdict, dataclass

from PIL import Image, ImageEnhance, ImageFilter

from .preprocessing import random_crop

_RESAMPLERS = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class WildAugmentation:
    """Probabilities and ranges of each augmentation step; recorded in the checkpoint."""

    resize_p: float = 0.5
    resize_range: tuple[float, float] = (0.5, 1.5)
    blur_p: float = 0.1
    blur_radius: tuple[float, float] = (0.2, 1.0)
    colour_p: float = 0.3
    colour_strength: float = 0.15
    jpeg_p_lossy: float = 0.5  # source file already JPEG
    jpeg_p_lossless: float = 0.9  # source file PNG, WebP, ...
    jpeg_quality: tuple[int, int] = (30, 95)
    flip_p: float = 0.5

    def to_dict(self) -> dict:
        """Plain-type form for the checkpoint's training_args."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def __call__(self, image: Image.Image, size: int, rng: random.Random, *, lossless_source: bool) -> Image.Image:
        """Augment an RGB image and return one size x size crop."""
        factor = rng.uniform(*self.resize_range) if rng.random() < self.resize_p else 1.0
        # Every step below acts locally (resampling, blur, 8x8 JPEG blocks), so it is done on a
        # window a little larger than the final crop: the same pixels as augmenting the whole
        # image, at a fraction of the cost for 5-megapixel-plus photos and wallpapers.
        image = random_window(image, math.ceil((size + WINDOW_MARGIN) / factor), rng)
        if factor != 1.0:
            width, height = image.size
            new_size = (max(8, round(width * factor)), max(8, round(height * factor)))
            image = image.resize(new_size, rng.choice(_RESAMPLERS))
        if rng.random() < self.blur_p:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*self.blur_radius)))
        if rng.random() < self.colour_p:
            s = self.colour_strength
            for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
                image = enhancer(image).enhance(rng.uniform(1 - s, 1 + s))
        jpeg_p = self.jpeg_p_lossless if lossless_source else self.jpeg_p_lossy
        if rng.random() < jpeg_p:
            image = jpeg_roundtrip(image, rng.randint(*self.jpeg_quality), subsampling=rng.choice((0, 2)))
        # Crop after compression, so the 8x8 JPEG grid is not always aligned with the crop.
        image = random_crop(image, size, rng)
        if rng.random() < self.flip_p:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return image


WINDOW_MARGIN = 32


def random_window(image: Image.Image, side: int, rng: random.Random) -> Image.Image:
    """A random side x side region at native resolution (the whole image if it is smaller)."""
    width, height = image.size
    if width <= side and height <= side:
        return image
    w, h = min(width, side), min(height, side)
    x, y = rng.randint(0, width - w), rng.randint(0, height - h)
    return image.crop((x, y, x + w, y + h))


def jpeg_roundtrip(image: Image.Image, quality: int, subsampling: int = 2) -> Image.Image:
    """Encode as JPEG in memory and decode again."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(quality), subsampling=subsampling)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")
