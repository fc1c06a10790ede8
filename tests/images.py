"""Build real image files with Pillow for the tests."""

from __future__ import annotations

import csv
import io
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


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


def photo_like(seed: int, size=(640, 480)) -> Image.Image:
    """Gradients, shapes and sensor-like noise: natural enough for PDQ (quality well above 50) and a
    textured carrier for the SD watermark (the reference embedding fails on large smooth areas)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    base = np.stack([120 + 80 * np.sin(3 * x + seed), 100 + 70 * np.cos(4 * y - seed), 90 + 60 * np.sin(2 * (x + y))], -1)
    image = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(15, 110))
        colour = tuple(int(v) for v in rng.integers(20, 235, 3))
        if rng.random() < 0.5:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        else:
            draw.rectangle((cx - r, cy - r // 2, cx + r, cy + r // 2), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    noisy = np.asarray(image).astype(np.float32) + rng.normal(0, 8, (h, w, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def _brighter_ai(rng, label):
    base = 150 if label == "ai" else 90
    return np.clip(rng.normal(base, 30, size=(80, 96, 3)), 0, 255).astype(np.uint8)


def write_manifest_folder(root, sources, *, pixels_of=_brighter_ai, seed: int = 1):
    """Real image files under root/<source>/<real|ai>/ with a MANIFEST carrying kind and family;
    `sources` maps a source to (real count, AI count, kind). By default each source's AI images are
    brighter; `pixels_of(rng, label)` returns other (80, 96, 3) uint8 pixels."""
    rows = []
    rng = np.random.default_rng(seed)
    for source, (real, ai, kind) in sources.items():
        for label, count in (("real", real), ("ai", ai)):
            for i in range(count):
                pixels = pixels_of(rng, label)
                path = root / source / label / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)
                rows.append({"path": f"{source}/{label}/{i}.png", "label": label, "generator": "",
                             "family": f"fam-{source}" if label == "ai" else "", "kind": kind, "width": 96, "height": 80})
    with open(root / "MANIFEST.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root
