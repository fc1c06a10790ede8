"""Stable Diffusion watermark figures: false matches on real photos, recall after embedding
and common edits, and detection latency (bench/matching.py --watermark)."""

from __future__ import annotations

import random
import time

import numpy as np
from PIL import Image

from detector.evidence import watermark as wm

from bench.matching_images import SHARED_TRAIN, corpus_rows, jpeg, log, scaled, time_calls


def bench_watermark(carriers: int) -> None:
    """False matches on the real corpus, recall on ``carriers`` marked photos, and latency."""
    from imwatermark import WatermarkEncoder  # imwatermark imports torch: only --watermark pays for it

    real = corpus_rows("real")
    if not real:
        print("watermark: /work/shared/data/train is absent; nothing to measure")
        return
    t0 = time.perf_counter()
    best = {}
    matched = 0
    for r in real:
        image = Image.open(SHARED_TRAIN / r["path"])
        for reading in wm.watermark_readings(image):
            key = (reading["message"], reading["path"])
            best[key] = max(best.get(key, 0), reading["bits_matched"])
        matched += wm.detect_sd_watermark(image) is not None
    log(f"read {len(real)} real images in {time.perf_counter() - t0:.0f} s")
    print(f"false matches: {matched} of {len(real)} labelled-real corpus images >= 256 px "
          f"(95% upper bound {3 / len(real):.2%})")
    for (message, path), value in sorted(best.items()):
        total = len(wm.MESSAGES[message].bits)
        need = total - wm.MESSAGES[message].max_errors
        print(f"  best reading {message:<4} {path:<9}: {value:>3}/{total} (match needs {need})")
    ai_rows = corpus_rows("ai")
    ai_matched, ai_best = 0, {}
    for r in ai_rows:
        image = Image.open(SHARED_TRAIN / r["path"])
        for reading in wm.watermark_readings(image):
            ai_best[reading["message"]] = max(ai_best.get(reading["message"], 0), reading["bits_matched"])
        ai_matched += wm.detect_sd_watermark(image) is not None
    print(f"AI corpus images >= 256 px (no reference-pipeline watermark expected): {ai_matched} of {len(ai_rows)} match; "
          f"best readings " + ", ".join(f"{m} {v}" for m, v in sorted(ai_best.items())))

    random.seed(2)
    rows = real[:]
    random.shuffle(rows)
    rows = rows[:carriers]

    def imwatermark_uint8(image):
        encoder = WatermarkEncoder()
        encoder.set_watermark("bits", wm.SDXL_WATERMARK_BITS)
        rgb = np.asarray(image.convert("RGB"))
        return Image.fromarray(np.ascontiguousarray(encoder.encode(np.ascontiguousarray(rgb[:, :, ::-1]), "dwtDct")[:, :, ::-1]))

    embeddings = {
        "sdxl (float BGR, diffusers)": lambda im: wm.embed_sd_watermark(im, "sdxl"),
        "sdxl (uint8, imwatermark)": imwatermark_uint8,
        "sd1 (uint8 BGR)": lambda im: wm.embed_sd_watermark(im, "sd1"),
        "sd2 (uint8 BGR)": lambda im: wm.embed_sd_watermark(im, "sd2"),
    }
    attacks = {
        "png": lambda im: im,
        "jpeg95": lambda im: jpeg(im, 95),
        "jpeg90": lambda im: jpeg(im, 90),
        "resize0.9": lambda im: scaled(im, 0.9),
        "crop3px": lambda im: im.crop((3, 3, im.width, im.height)),
        "crop8px": lambda im: im.crop((8, 8, im.width, im.height)),
    }
    found = {(e, a): 0 for e in embeddings for a in attacks}
    t0 = time.perf_counter()
    for r in rows:
        image = Image.open(SHARED_TRAIN / r["path"]).convert("RGB")
        if image.width * image.height > 1024 * 1024:
            image = image.crop((0, 0, min(image.width, 1024), min(image.height, 1024)))
        for e, embed in embeddings.items():
            marked = embed(image)
            for a, attack in attacks.items():
                found[(e, a)] += wm.detect_sd_watermark(attack(marked)) is not None
    log(f"embedded and read {len(rows)} carriers in {time.perf_counter() - t0:.0f} s")
    print(f"found again, {len(rows)} real carriers (corpus photos and art; longest side <= 1024 px):")
    print(f"{'embedding':<30}" + "".join(f"{a:>10}" for a in attacks))
    for e in embeddings:
        print(f"{e:<30}" + "".join(f"{found[(e, a)] / len(rows):>10.0%}" for a in attacks))
    image = Image.open(SHARED_TRAIN / rows[0]["path"]).convert("RGB").resize((1024, 1024))
    lat = time_calls(wm.detect_sd_watermark, [image] * 10, warmup=1)
    big = image.resize((6000, 4000))
    lat_big = time_calls(wm.detect_sd_watermark, [big] * 3, warmup=0)
    print(f"detect_sd_watermark latency: 1024x1024 p50 {np.median(lat) * 1e3:.0f} ms; "
          f"6000x4000 (capped at {wm.MAX_DECODE_PIXELS / 1e6:.1f} MP) p50 {np.median(lat_big) * 1e3:.0f} ms")
    print()
