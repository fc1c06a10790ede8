"""The PDQ distances behind the match thresholds: between different images of the corpus, and
between an image and its copies under common edits (bench/matching.py --thresholds)."""

from __future__ import annotations

import random
import time

import numpy as np
from PIL import Image, ImageOps

from detector.evidence.similarity import PDQ_MATCH_DISTANCE_AI, PDQ_MATCH_DISTANCE_HUMAN, hamming, pdq_hash, pdq_hashes_robust

from bench.matching_images import (
    SHARED_TRAIN,
    captioned,
    colour_filter,
    corpus_rows,
    crop_each_side,
    crop_one_side,
    drawn_image,
    jpeg,
    log,
    padded,
    pct,
    scaled,
    sepia,
)

COPY_DISTANCE = 10  # corpus pairs this close are one picture held twice, not two pictures


TRANSFORMS = {
    "jpeg60": lambda im: jpeg(im, 60),
    "jpeg30": lambda im: jpeg(im, 30),
    "resize0.5": lambda im: scaled(im, 0.5),
    "resize0.25": lambda im: scaled(im, 0.25),
    "resize64px": lambda im: im.resize((64, 64), Image.Resampling.LANCZOS),
    "saturation1.5+brightness1.1": colour_filter,
    "sepia": sepia,
    "grayscale": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "jpeg60+0.5x+colour": lambda im: jpeg(colour_filter(scaled(im, 0.5)), 60),
    "crop0.5%each": lambda im: crop_each_side(im, 0.005),
    "crop1%each": lambda im: crop_each_side(im, 0.01),
    "crop2%each": lambda im: crop_each_side(im, 0.02),
    "crop1%one": lambda im: crop_one_side(im, 0.01),
    "crop5%each": lambda im: crop_each_side(im, 0.05),
    "crop10%one": lambda im: crop_one_side(im, 0.10),
    "crop10%each": lambda im: crop_each_side(im, 0.10),
    "pad10%": lambda im: padded(im, 0.10),
    "caption_bar15%": captioned,
    "rotate5deg": lambda im: im.rotate(5, resample=Image.Resampling.BICUBIC),
    "rotate90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "mirror": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
}


def bench_thresholds(sample: int) -> None:
    """Distances between different corpus images, and from ``sample`` images to their edited copies."""
    rows = corpus_rows()
    if rows:
        images_desc = f"{len(rows)} corpus images >= 256 px"
        load = lambda r: Image.open(SHARED_TRAIN / r["path"])  # noqa: E731
        groups = [r["path"].split("/")[0] for r in rows]
        labels = [r["label"] for r in rows]
    else:
        rows = list(range(300))
        images_desc = "300 Pillow-drawn images (corpus absent)"
        load = drawn_image  # noqa: E731
        groups = ["drawn"] * len(rows)
        labels = ["none"] * len(rows)
    t0 = time.perf_counter()
    hashes, qualities = [], []
    for r in rows:
        h, q = pdq_hash(load(r))
        hashes.append(np.frombuffer(h, dtype=np.uint8))
        qualities.append(q)
    log(f"hashed {len(rows)} images in {time.perf_counter() - t0:.0f} s")
    bits = np.unpackbits(np.stack(hashes), axis=1).astype(np.float32)
    ones = bits.sum(axis=1)
    dist = np.rint(ones[:, None] + ones[None, :] - 2 * bits @ bits.T).astype(np.int32)
    iu = np.triu_indices(len(rows), 1)
    full = dist[iu]
    copies = np.flatnonzero(full <= COPY_DISTANCE)
    different = full > COPY_DISTANCE
    d = full[different]
    print(f"unrelated  {images_desc}: {len(d):,} pairs of different images; {len(copies)} pairs within "
          f"{COPY_DISTANCE} bits left out as the same picture held twice (check them by eye):")
    for k in copies[:10]:
        i, j = iu[0][k], iu[1][k]
        name = (lambda r: r["path"] if isinstance(r, dict) else f"drawn {r}")
        print(f"             {full[k]:>3} bits  {name(rows[i])}  {name(rows[j])}")
    print(f"           quality: min {min(qualities)}, under 50: {sum(q < 50 for q in qualities)}")
    print(f"           distance percentiles 0.001/0.01/0.1/1/50: "
          + " / ".join(f"{pct(d, q):.0f}" for q in (0.001, 0.01, 0.1, 1, 50)) + f"; min {d.min()}")
    for t in (24, 31, 36, 40, 46, 50, 60, 70):
        print(f"           pairs within {t:>2} bits: {int((d <= t).sum()):>6}  ({(d <= t).mean():.2e} per pair)")
    if len(set(labels)) > 1:
        lab = np.array(labels)
        cross = (lab[iu[0]] != lab[iu[1]]) & different
        print(f"           closest pair across labels (real vs ai): {full[cross].min()} bits")
    grp = np.array(groups)
    for g in sorted(set(groups)):
        m = (grp[iu[0]] == g) & (grp[iu[1]] == g) & different
        if m.sum():
            print(f"           within {g:<24} {int(m.sum()):>9,} pairs, closest {full[m].min():>3}")
    steps = np.arange(60, 101, 4)
    cdf = np.array([(d <= s).mean() for s in steps])
    keep = cdf > 0
    if keep.sum() >= 3:
        slope, intercept = np.polyfit(steps[keep], np.log10(cdf[keep]), 1)
        print("           tail fit log10 P(d <= t) = %.4f t %+.2f over t = 60..100; extrapolated:" % (slope, intercept))
        for t in (24, 31, 36, 40):
            p = 10 ** (slope * t + intercept)
            print(f"             t={t}: {p:.1e} per pair -> expected false matches per query "
                  f"{p * 1e4:.1e} (10k library), {p * 1e5:.1e} (100k), {p * 1e6:.1e} (1M)")
    print()

    random.seed(3)
    order = list(range(len(rows)))
    random.shuffle(order)
    picked = order[:sample]
    per = {name: [] for name in TRANSFORMS}
    per_robust = {name: [] for name in TRANSFORMS}
    t0 = time.perf_counter()
    for i in picked:
        image = load(rows[i]).convert("RGB")
        h0 = hashes[i].tobytes()
        for name, make in TRANSFORMS.items():
            variant = make(image)
            per[name].append(hamming(h0, pdq_hash(variant)[0]))
            per_robust[name].append(min(hamming(h0, h) for h in pdq_hashes_robust(variant)))
    log(f"transformed {len(picked)} images in {time.perf_counter() - t0:.0f} s")
    print(f"copies     {len(picked)} images, distance to the original (bits of 256)")
    print(f"{'transform':<28} {'p50':>4} {'p95':>4} {'p99':>4} {'max':>4} {'<=' + str(PDQ_MATCH_DISTANCE_AI):>6} "
          f"{'<=' + str(PDQ_MATCH_DISTANCE_HUMAN):>6} | robust8: {'p95':>4} {'max':>4} {'<=' + str(PDQ_MATCH_DISTANCE_AI):>6}")
    for name in TRANSFORMS:
        a, b = np.array(per[name]), np.array(per_robust[name])
        print(f"{name:<28} {np.median(a):>4.0f} {pct(a, 95):>4.0f} {pct(a, 99):>4.0f} {a.max():>4} "
              f"{(a <= PDQ_MATCH_DISTANCE_AI).mean():>6.1%} {(a <= PDQ_MATCH_DISTANCE_HUMAN).mean():>6.1%} | "
              f"{'':>8} {pct(b, 95):>4.0f} {b.max():>4} {(b <= PDQ_MATCH_DISTANCE_AI).mean():>6.1%}")
    print()
