#!/usr/bin/env python3
"""Experiment (issue 11): a small patch model trained from scratch on upsampling residuals (NPR).

    .venv/bin/python scripts/experiments/npr_patch.py ../shared/data/train var/corpus-train --wild var/corpus-wild --with-probe

The issue asks to compare "a small patch model trained from scratch on high-pass / upsampling
residuals (the traces most generators' decoders leave, in the manner of NPR, CVPR 2024)". NPR
(Tan et al.) feeds a CNN the neighbouring-pixel relationship x - up2(down2(x)), which is zero
wherever a 2x nearest-neighbour upsampling left four equal pixels and carries the local
correlations a decoder's upsampling layers leave. Here:

* Input: crops of `--crop` px taken at the file's own resolution (never resized: resizing is what
  erases the trace), at even offsets so the 2x2 grid and JPEG's 8x8 grid stay aligned. Eight random
  crops per image and variant (the original, and JPEG q75 at half size as in the shipped recipe)
  are cut once into a cache under var/.
* Model: the residual, then six 3x3 conv + batch-norm + ReLU layers (three with stride 2), global
  average pooling and one logit; about 0.3 M weights at width 16, trained from scratch (no ImageNet).
* Protocol: the shipped recipe's, exactly: the same images (at most 300 per source and class), the
  same 5 source folds, cifake and hardfaces scored but never trained on, the same per-image
  weights (1/sqrt of the source-and-class count, classes balanced), Platt scaling and thresholds
  chosen on the out-of-source scores. An image's logit is the mean over its eight crops.
* In the wild: the mean logit of the five fold models (none saw a wild source), at the
  out-of-source thresholds.
* `--with-probe` also runs the shipped multi-level probe on the same images and folds and adds the
  row "probe + NPR, calibrated logits averaged" (the issue's "averaging the logits of the best two").
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from detector.ml import out_of_source_thresholds, probe  # noqa: E402
from detector.ml.metrics import paired_auc_difference  # noqa: E402
from detector.ml.npr import NPRNet, members_logits, npr_residual, train_npr  # noqa: E402,F401  (the shipped NPR code)
from detector.ml.out_of_source import MIN_SIDE_JUDGED, extract, load_images, run_out_of_source  # noqa: E402
from mlp_head import fit_on_every_source, row  # noqa: E402  (this folder: the MLP experiment's rows and wild head)

VARIANTS = ("original", "jpeg75_half")
EXCLUDE = ("cifake", "hardfaces")
CROPS_PER_IMAGE = 8


def random_crops(array: np.ndarray, size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` crops of size x size at even offsets; a side under `size` is reflect-padded, never resized."""
    height, width = array.shape[:2]
    pad_h, pad_w = max(0, size - height), max(0, size - width)
    if pad_h or pad_w:
        array = np.pad(array, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect" if min(height, width) > 1 else "edge")
        height, width = array.shape[:2]
    crops = np.empty((count, size, size, 3), dtype=np.uint8)
    for k in range(count):
        top = 2 * int(rng.integers(0, (height - size) // 2 + 1))
        left = 2 * int(rng.integers(0, (width - size) // 2 + 1))
        crops[k] = array[top:top + size, left:left + size]
    return crops


def image_crops(job) -> np.ndarray:
    """(variants, crops, size, size, 3) uint8 for one file (a worker of the crop cache)."""
    path, size, index = job
    rng = np.random.default_rng(index)
    with Image.open(path) as image:
        image = image.convert("RGB")
        out = []
        for variant in VARIANTS:
            pixels = np.asarray(probe.variant_image(image, variant, seed=index).convert("RGB"))
            out.append(random_crops(pixels, size, CROPS_PER_IMAGE, rng))
    return np.stack(out)


def crop_cache(paths, size: int, cache_file: Path, *, workers: int = 2) -> np.ndarray:
    """Crops of every file, cut once and kept in `cache_file` (keyed by the file list and crop size)."""
    if cache_file.is_file():
        cached = np.load(cache_file, mmap_mode="r")
        if cached.shape[0] == len(paths) and cached.shape[3] == size:
            return np.asarray(cached)
    started = time.monotonic()
    with ProcessPoolExecutor(workers) as pool:
        crops = np.stack(list(pool.map(image_crops, [(str(p), size, i) for i, p in enumerate(paths)], chunksize=16)))
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache_file, crops)
    print(f"crops: {len(paths)} files in {time.monotonic() - started:.0f} s -> {cache_file}", flush=True)
    return crops


def crop_logits(net, crops: np.ndarray) -> np.ndarray:
    """(images, variants) mean logit over each image's crops."""
    return members_logits([net], crops)


def figures_from_logits(logits: dict, images, sides) -> tuple[dict, dict, tuple]:
    """Platt scaling and thresholds chosen on the judged out-of-source logits (as run_out_of_source
    does), and the figures they give."""
    judged = sides >= MIN_SIDE_JUDGED
    judged_images = [images[i] for i in np.flatnonzero(judged)]
    labels = np.array([i.sample.label for i in judged_images])
    platt = probe.fit_platt(logits["original"][judged], labels, probe.balanced_weights(judged_images))
    p = probe.probabilities_from_logits(logits["original"][judged], *platt)
    thresholds, _info = out_of_source_thresholds.choose_out_of_source_thresholds(p, judged_images)
    return figures_at(logits, images, sides, thresholds, platt), thresholds, platt


def figures_at(logits: dict, images, sides, thresholds, platt) -> dict:
    """The headline figures of the judged images at given thresholds, with the AUC after JPEG q75 + half."""
    judged = sides >= MIN_SIDE_JUDGED
    judged_images = [images[i] for i in np.flatnonzero(judged)]
    p = {v: probe.probabilities_from_logits(l[judged], *platt) for v, l in logits.items()}
    figures = probe.operating_figures(p["original"], judged_images, thresholds)
    figures["auc_after_jpeg75_half"] = probe.operating_figures(p["jpeg75_half"], judged_images, thresholds)["auc_ai_vs_all_real"]
    return figures


def probe_logits(args, images, wild_images):
    """The shipped probe's out-of-source logits on the same images, and its all-source head on the wild set."""
    result = run_out_of_source(args.data, max_per_source=300, cache_dir=args.cache_dir, train_variants=VARIANTS,
                               l2=0.1, exclude_sources=EXCLUDE, arch="efficientnet_lite0_multilevel", log=lambda *_: None)
    if [i.sample.path for i in result["images"]] != [i.sample.path for i in images]:
        raise SystemExit("The probe's images differ from the NPR run's; cannot average them.")
    out = {"oos": result["logits"]}
    if wild_images is not None:
        head = fit_on_every_source(result, probe.fit_linear_head)
        feats = extract(result["extractor"], wild_images, list(VARIANTS), log=lambda *_: None)
        out["wild"] = {v: head.logits(feats[v]) for v in VARIANTS}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+")
    parser.add_argument("--wild", nargs="*", default=[])
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--draws", type=int, default=6144, help="crops drawn per epoch")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--with-probe", action="store_true", help="also the shipped probe and the two averaged")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples for the averaged-minus-probe AUC interval")
    parser.add_argument("--reuse", action="store_true", help="reuse the NPR logits saved by an earlier run of the same settings")
    parser.add_argument("--cache-dir", default=str(REPO / "var" / "feature-cache"))
    parser.add_argument("--crop-cache", default=str(REPO / "var" / "npr-crops"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    images, sides = load_images(args.data, max_per_source=300, seed=0, log=lambda *_: None)
    labels = np.array([i.sample.label for i in images])
    folds = np.asarray(probe.source_folds(images, args.folds, 0))
    crops = crop_cache([i.sample.path for i in images], args.crop, Path(args.crop_cache) / f"train-{len(images)}-{args.crop}.npy")
    wild_images = wild_sides = wild_crops = None
    if args.wild:
        wild_images, wild_sides = load_images(args.wild, max_per_source=None, seed=0, log=lambda *_: None)
        wild_crops = crop_cache([i.sample.path for i in wild_images], args.crop,
                                Path(args.crop_cache) / f"wild-{len(wild_images)}-{args.crop}.npy")

    weights = probe.balanced_weights(images)
    trainable = probe.trainable_mask(images, EXCLUDE)
    oos = np.zeros((len(images), len(VARIANTS)))
    wild = np.zeros((len(wild_images), len(VARIANTS))) if wild_images is not None else None
    logits_file = Path(args.crop_cache) / f"logits-crop{args.crop}-w{args.width}-e{args.epochs}-d{args.draws}.npz"
    paths = np.array([str(i.sample.path) for i in images])
    reused = args.reuse and logits_file.is_file()
    if reused:
        saved = np.load(logits_file)
        if not np.array_equal(saved["paths"], paths) or (wild is not None and saved["wild"].shape != wild.shape):
            raise SystemExit(f"{logits_file} was made for other images; run without --reuse.")
        oos, wild = saved["oos"], (saved["wild"] if wild is not None else None)
        print(f"NPR logits reused from {logits_file}", flush=True)
    started = time.monotonic()
    for fold in ([] if reused else sorted(set(folds.tolist()))):
        train = np.flatnonzero((folds != fold) & trainable)
        print(f"fold {fold}: training on {len(train)} images", flush=True)
        net = train_npr(crops[train], labels[train], weights[train], epochs=args.epochs, draws=args.draws,
                        width=args.width, seed=fold)
        scored = folds == fold
        oos[scored] = crop_logits(net, crops[scored])
        if wild is not None:
            wild += crop_logits(net, wild_crops) / len(set(folds.tolist()))
        print(f"fold {fold} done at {time.monotonic() - started:.0f} s", flush=True)
    np.savez(logits_file, oos=oos, wild=wild if wild is not None else np.zeros(0), paths=paths)

    models = {"NPR patch model (from scratch)": ({v: oos[:, k] for k, v in enumerate(VARIANTS)},
                                                 None if wild is None else {v: wild[:, k] for k, v in enumerate(VARIANTS)})}
    if args.with_probe:
        shipped = probe_logits(args, images, wild_images)
        models["multi-level probe (shipped recipe)"] = (shipped["oos"], shipped.get("wild"))
    header = ("| model | AUC | vs photos | vs art | photos likely AI | art likely AI | AI caught | AI likely human | "
              "AUC after JPEG q75 + half |\n|---|---|---|---|---|---|---|---|---|")
    lines = {"out of source": [], "in the wild": []}
    breakdown = {"out of source": {}, "in the wild": {}}
    calibrated = {}
    for name, (oos_logits, wild_logits) in models.items():
        figures, thresholds, platt = figures_from_logits(oos_logits, images, sides)
        lines["out of source"].append(row(name, figures))
        breakdown["out of source"][name] = figures
        calibrated[name] = platt
        if wild_logits is not None:
            breakdown["in the wild"][name] = figures_at(wild_logits, wild_images, wild_sides, thresholds, platt)
            lines["in the wild"].append(row(name, breakdown["in the wild"][name]))
    if args.with_probe:
        # Each model's logits on its own Platt scale first, so neither dominates by its range alone.
        def averaged(which):
            parts = [{v: models[n][which][v] * calibrated[n][0] + calibrated[n][1] for v in VARIANTS} for n in models]
            return {v: (parts[0][v] + parts[1][v]) / 2 for v in VARIANTS}
        figures, thresholds, platt = figures_from_logits(averaged(0), images, sides)
        judged = sides >= MIN_SIDE_JUDGED
        shipped_name = "multi-level probe (shipped recipe)"
        differences = [("out of source", labels[judged], models[shipped_name][0]["original"][judged], averaged(0)["original"][judged])]
        if wild is not None:
            wild_judged = wild_sides >= MIN_SIDE_JUDGED
            wild_labels = np.array([i.sample.label for i in wild_images])[wild_judged]
            differences.append(("in the wild", wild_labels, models[shipped_name][1]["original"][wild_judged],
                                averaged(1)["original"][wild_judged]))
        for title, y, before, after in differences:
            difference, low, high = paired_auc_difference(y, before, after, args.bootstrap)
            print(f"{title}: AUC of the averaged model minus the shipped probe's: {difference:+.3f} "
                  f"(95% bootstrap interval over images {low:+.3f} to {high:+.3f})")
        name = "probe + NPR, calibrated logits averaged"
        lines["out of source"].append(row(name, figures))
        breakdown["out of source"][name] = figures
        if wild is not None:
            breakdown["in the wild"][name] = figures_at(averaged(1), wild_images, wild_sides, thresholds, platt)
            lines["in the wild"].append(row(name, breakdown["in the wild"][name]))
    for title, rows in lines.items():
        if rows:
            print(f"\n{title}\n{header}\n" + "\n".join(rows))
    for title, tables in breakdown.items():
        print_breakdown(title, tables)
    return 0


def print_breakdown(title: str, tables: dict) -> None:
    """AUC per generator family (vs all real) and share of each kind of real image called likely AI, a column per model."""
    names = list(tables)
    print(f"\n{title}, per generator family (AUC vs all real) and per kind of real image (share called likely AI)")
    print("| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    first = tables[names[0]]
    for family, entry in first["per_family"].items():
        cells = [f"{tables[n]['per_family'][family]['auc_vs_all_real']:.3f}" for n in names]
        print(f"| {family} ({entry['images']}) | " + " | ".join(cells) + " |")
    for kind, entry in first["per_kind"].items():
        cells = [f"{tables[n]['per_kind'][kind]['likely_ai']:.1%}" for n in names]
        print(f"| real: {kind} ({entry['images']}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
