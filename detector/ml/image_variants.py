"""Image variants for the robustness and container checks (JPEG re-compression, resize,
crop, lossless PNG), all made in memory. Pillow only; no torch, no Django.
"""

from __future__ import annotations

import io
import math

from PIL import Image


def _reencode(image: Image.Image, fmt: str, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    buffer.seek(0)
    with Image.open(buffer) as reopened:
        reopened.load()
        return reopened.convert("RGB") if reopened.mode != "RGB" else reopened.copy()


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """The image after a JPEG round trip at `quality` (Pillow's default 4:2:0 subsampling)."""
    return _reencode(image, "JPEG", quality=quality)


def png(image: Image.Image) -> Image.Image:
    """The image after a lossless PNG round trip: exactly the same pixels in another container."""
    return _reencode(image, "PNG", compress_level=1)


def half_size(image: Image.Image) -> Image.Image:
    """Half the width and height, bicubic."""
    width, height = image.size
    return image.resize((max(1, round(width * 0.5)), max(1, round(height * 0.5))), Image.Resampling.BICUBIC)


def centre_crop(image: Image.Image, area: float = 0.5) -> Image.Image:
    """The central part of the image keeping `area` of its pixels (same aspect ratio)."""
    width, height = image.size
    side = math.sqrt(area)
    w, h = max(1, round(width * side)), max(1, round(height * side))
    left, top = (width - w) // 2, (height - h) // 2
    return image.crop((left, top, left + w, top + h))


# name -> (description, transform)
ROBUSTNESS_VARIANTS = {
    "jpeg_q75": ("JPEG re-compression at quality 75", lambda im: jpeg(im, 75)),
    "jpeg_q50": ("JPEG re-compression at quality 50", lambda im: jpeg(im, 50)),
    "resize_0.5x": ("downscaled to half width and height (bicubic)", half_size),
    "centre_crop_50pct": ("central crop keeping 50% of the area", centre_crop),
}
CONTAINER_VARIANTS = {
    "png": ("re-encoded as lossless PNG (identical pixels)", png),
    "jpeg_q95": ("re-encoded as JPEG quality 95", lambda im: jpeg(im, 95)),
}
