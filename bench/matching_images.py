"""Pictures and measuring helpers shared by the matching benches (bench/matching.py): the corpus
or Pillow-drawn images, the copies a lookup must survive, timing and memory readings."""

from __future__ import annotations

import csv
import io
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from tests.images import photo_like

REPO = Path(__file__).resolve().parents[1]
SHARED_TRAIN = REPO.parent / "shared" / "data" / "train"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def time_calls(fn, queries, warmup: int = 3) -> list[float]:
    for q in queries[:warmup]:
        fn(q)
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t)
    return out


def corpus_rows(label: str | None = None, min_side: int = 256, folders=None) -> list[dict]:
    manifest = SHARED_TRAIN / "MANIFEST.csv"
    if not manifest.exists():
        return []
    with open(manifest, newline="") as f:
        rows = [
            r
            for r in csv.DictReader(f)
            if int(r["width"]) >= min_side and int(r["height"]) >= min_side and (label is None or r["label"] == label)
        ]
    if folders:
        rows = [r for r in rows if r["path"].split("/")[0] in folders]
    return rows


def drawn_image(seed: int, size=(640, 480)) -> Image.Image:
    """A made-up photo-like picture (gradients, shapes, noise) for when the corpus is absent."""
    return photo_like(seed, size)


def sample_images(count: int, seed: int = 7) -> tuple[list[Image.Image], str]:
    rows = corpus_rows()
    if rows:
        random.Random(seed).shuffle(rows)
        picked = rows[:count]
        return [Image.open(SHARED_TRAIN / r["path"]).convert("RGB") for r in picked], f"{len(picked)} corpus images"
    return [drawn_image(i) for i in range(count)], f"{count} Pillow-drawn images (corpus absent)"


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def scaled(image: Image.Image, factor: float) -> Image.Image:
    return image.resize((max(1, int(image.width * factor)), max(1, int(image.height * factor))), Image.Resampling.LANCZOS)


def crop_each_side(image: Image.Image, fraction: float) -> Image.Image:
    dx, dy = int(image.width * fraction), int(image.height * fraction)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def crop_one_side(image: Image.Image, fraction: float) -> Image.Image:
    return image.crop((0, 0, int(image.width * (1 - fraction)), image.height))


def colour_filter(image: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(ImageEnhance.Color(image).enhance(1.5)).enhance(1.1)


def sepia(image: Image.Image) -> Image.Image:
    return ImageOps.colorize(ImageOps.grayscale(image), (40, 26, 13), (255, 240, 192))


def padded(image: Image.Image, fraction: float) -> Image.Image:
    out = Image.new("RGB", (int(image.width * (1 + 2 * fraction)), int(image.height * (1 + 2 * fraction))), "white")
    out.paste(image, (int(image.width * fraction), int(image.height * fraction)))
    return out


def captioned(image: Image.Image) -> Image.Image:
    out = image.copy()
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, int(out.height * 0.85), out.width, out.height), fill=(0, 0, 0))
    draw.text((10, int(out.height * 0.88)), "@someone reposted this picture", fill="white")
    return out


NEAR_DUPLICATES = {  # the variants a lookup must find (within documented limits)
    "jpeg60": lambda im: jpeg(im, 60),
    "resize0.5": lambda im: scaled(im, 0.5),
    "colour": colour_filter,
}
