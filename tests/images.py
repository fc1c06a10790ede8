"""Build real image files with Pillow for the tests."""

from __future__ import annotations

import io
import random

from PIL import Image


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (96, 80), seed: int = 0, mode: str = "RGB", **save) -> bytes:
    """A real, decodable image with content that depends on ``seed`` (so bytes differ)."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    pixels = image.load()
    step = max(1, min(width, height) // 16)
    for y in range(0, height, step):
        for x in range(0, width, step):
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            for dy in range(min(step, height - y)):
                for dx in range(min(step, width - x)):
                    pixels[x + dx, y + dy] = colour
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()
