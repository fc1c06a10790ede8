#!/usr/bin/env python3
"""Experiment (issue 11): do hand-made residual features add to the multi-level probe?

    .venv/bin/python scripts/experiments/residual_features.py \\
        --train ../shared/data/train var/corpus-train --wild var/corpus-wild

33 numbers per image, from up to five 256-px crops at the file's own resolution (upsampling
and demosaicing traces live at pixel scale, so nothing is resized unless the image is smaller):
the radial profile of a high-pass residual's power spectrum (16 bins), spectral peaks at the
frequencies 2x/4x/8x upsampling leaves (9), the NPR-style residual of each 2x2 position against
a nearest-neighbour 2x up of the 2x down (3), the correlation of the colour channels' residuals
(3, camera demosaicing), and the residual's log standard deviation and kurtosis (2).

Prints group-5-fold-by-source AUCs over every image of the training folders (the probe's
protocol, without its 64-px rule) and the AUC on the wild folders of a head fitted on all
training sources, clean and after JPEG q75 + half size, for: multi-level features, residual
features, both. Features are cached in var/feature-cache/resid-v1 and lite0-multilevel.
This is an experiment, not product code: nothing in the app imports it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from detector.ml.metrics import roc_auc  # noqa: E402
from detector.ml.out_of_source import load_images  # noqa: E402
from detector.ml.preprocessing import Preprocessing  # noqa: E402
from detector.ml.probe import (  # noqa: E402
    FeatureExtractor, balanced_weights, fit_linear_head, source_folds, trainable_mask, variant_image,
)

CACHE = REPO / "var" / "feature-cache" / "resid-v1"
CROP = 256
_fy, _fx = np.meshgrid(np.fft.fftfreq(CROP), np.fft.fftfreq(CROP), indexing="ij")
RADIAL_BIN = np.minimum((np.sqrt(_fy**2 + _fx**2) / 0.5 * 16).astype(int), 15)


def _box3(z: np.ndarray) -> np.ndarray:
    return sum(np.roll(np.roll(z, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9


def crop_features(crop: np.ndarray) -> np.ndarray:
    c = crop.astype(np.float64)
    grey = c @ np.array([0.299, 0.587, 0.114])
    high = (grey - _box3(grey))[1:-1, 1:-1]
    spread = high.std() + 1e-6
    power = np.abs(np.fft.fft2(np.pad(high, 1))) ** 2
    radial = np.array([power[RADIAL_BIN == b].mean() for b in range(16)])
    radial = np.log(radial / (radial.sum() + 1e-12) + 1e-12)
    peaks = []
    for f in (CROP // 2, CROP // 4, CROP // 8):
        for u, v in ((f, 0), (0, f), (f, f)):
            ring = power[max(u - 2, 0) : u + 3, max(v - 2, 0) : v + 3]
            peaks.append(np.log(power[u, v] + 1e-9) - np.log(np.median(ring) + 1e-9))
    up = np.repeat(np.repeat(grey[::2, ::2], 2, 0), 2, 1)
    npr = np.abs(grey - up)
    positions = np.log(np.array([npr[1::2, 0::2].mean(), npr[0::2, 1::2].mean(), npr[1::2, 1::2].mean()]) + 1e-6) - np.log(spread)
    channel = [(c[..., i] - _box3(c[..., i]))[1:-1, 1:-1].ravel() for i in range(3)]
    corr = [np.corrcoef(channel[a], channel[b])[0, 1] if channel[a].std() > 0 and channel[b].std() > 0 else 1.0
            for a, b in ((0, 1), (1, 2), (0, 2))]
    kurtosis = ((high - high.mean()) ** 4).mean() / spread**4
    return np.r_[radial, peaks, positions, corr, np.log(spread), np.log(kurtosis + 1e-12)]


def image_features(job) -> np.ndarray:
    path, variant = job
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    cached = CACHE / variant / f"{digest}.npy"
    if cached.is_file():
        return _finite(np.load(cached))
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    image = variant_image(image, variant, int(digest[:8], 16))
    if min(image.size) < CROP:
        scale = CROP / min(image.size)
        image = image.resize((max(CROP, round(image.width * scale)), max(CROP, round(image.height * scale))), Image.BICUBIC)
    a = np.asarray(image)
    h, w = a.shape[:2]
    corners = [(0, 0), (h - CROP, w - CROP), ((h - CROP) // 2, (w - CROP) // 2), (0, w - CROP), (h - CROP, 0)]
    feature = np.mean([crop_features(a[y : y + CROP, x : x + CROP]) for y, x in corners], 0).astype(np.float32)
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.save(cached, feature)
    return _finite(feature)


def _finite(feature: np.ndarray) -> np.ndarray:
    """Flat crops (a logo's blank corner) give log(0): clip to a finite range the head can use."""
    return np.clip(np.nan_to_num(feature, nan=0.0, posinf=30.0, neginf=-30.0), -30, 30)


def residual_features(paths, variant: str, processes: int) -> np.ndarray:
    with Pool(processes) as pool:
        return np.stack(pool.map(image_features, [(str(p), variant) for p in paths], chunksize=8))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", required=True)
    parser.add_argument("--wild", nargs="+", required=True)
    parser.add_argument("--exclude-sources", default="cifake,hardfaces", help="scored but never trained on, as the shipped recipe")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.processes)
    quiet = lambda *_: None  # noqa: E731
    images, _ = load_images(args.train, max_per_source=300, seed=0, log=quiet)
    wild, _ = load_images(args.wild, max_per_source=None, seed=0, log=quiet)
    extractor = FeatureExtractor.imagenet(Preprocessing(input_size=224, max_tiles=5), arch="efficientnet_lite0_multilevel",
                                          cache_dir=REPO / "var" / "feature-cache")
    variants = ("original", "jpeg75_half")
    feats = {}
    for variant in variants:
        for name, items in (("train", images), ("wild", wild)):
            paths = [i.sample.path for i in items]
            feats[(name, "multilevel", variant)] = extractor.features(paths, variant)
            feats[(name, "residual", variant)] = residual_features(paths, variant, args.processes)
    y, y_wild = np.array([i.sample.label for i in images]), np.array([i.sample.label for i in wild])
    folds = np.array(source_folds(images, 5, 0))
    trainable = trainable_mask(images, tuple(s for s in args.exclude_sources.split(",") if s))
    weights = balanced_weights(images)

    def run(name, kinds):
        x = {(s, v): np.hstack([feats[(s, k, v)] for k in kinds]) for s in ("train", "wild") for v in variants}
        out_of_source = {v: np.zeros(len(y)) for v in variants}

        def fit(mask):
            return fit_linear_head(np.r_[x[("train", "original")][mask], x[("train", "jpeg75_half")][mask]],
                                   np.r_[y[mask], y[mask]], np.r_[weights[mask], weights[mask]], l2=0.1)

        for fold in range(5):
            head = fit((folds != fold) & trainable)
            for v in variants:
                out_of_source[v][folds == fold] = head.logits(x[("train", v)][folds == fold])
        head = fit(trainable)
        print(f"| {name} | {roc_auc(y, out_of_source['original']):.3f} | {roc_auc(y, out_of_source['jpeg75_half']):.3f} | "
              f"{roc_auc(y_wild, head.logits(x[('wild', 'original')])):.3f} | {roc_auc(y_wild, head.logits(x[('wild', 'jpeg75_half')])):.3f} |",
              flush=True)

    print(f"{len(images)} training images, {len(wild)} wild images")
    print("| features | out-of-source AUC | after JPEG q75 + half | wild AUC | wild after JPEG q75 + half |")
    print("|---|---|---|---|---|")
    run("multi-level (shipped)", ["multilevel"])
    run("residual only (33)", ["residual"])
    run("multi-level + residual", ["multilevel", "residual"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
