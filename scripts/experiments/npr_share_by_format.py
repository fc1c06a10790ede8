#!/usr/bin/env python3
"""Experiment (issue 11): the NPR part's share of the mixed logit chosen by the file's format.

    .venv/bin/python scripts/experiments/npr_share_by_format.py ../shared/data/train var/corpus-train \
        --checkpoint detector/weights/default.pt --cache-dir var/feature-cache --wild var/corpus-wild

Out of source, within the JPEG originals the NPR part is at chance (model card, "Known limits"), and
a JPEG q75 + half size re-save is what costs the mixed model most. This asks what the mix would be
if the NPR part's share were `w_jpeg` for JPEG files (and every re-saved copy, which is a JPEG) and
the shipped share for lossless files. No per-format intercept is fitted: the two parts are each
already Platt-scaled, and a per-format offset would let the model learn "JPEG means real" from the
training sources' formats, a shortcut.

Out of source: the probe part's out-of-source logits are rebuilt from the feature cache (the same
protocol as the checkpoint's report) and the checkpoint's stored NPR out-of-source logits mixed in.
In the wild (`--wild`): each image scored by the checkpoint's own Detector, split into its two
parts before they are mixed. AUC does not depend on the final scaling, so none is fitted here.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts" / "experiments"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")

VARIANTS = ("original", "jpeg75_half")
# A pixel reading of "was JPEG-compressed": at or above this comb score (below), whatever the container.
PIXEL_JPEG_SCORE = 0.2


def _dct_matrix(n=8):
    k = np.arange(n)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m

_DCT = _dct_matrix()
COEFFS = [(0, 1), (1, 0), (1, 1), (0, 2), (2, 0)]

def jpeg_quantisation_score(image, limit=512):
    """How strongly the luma's 8x8 block DCT coefficients (grid at 0,0) sit on a quantisation comb: near 0
    for never-compressed pixels, near 1 after JPEG at quality 75 or lower (steps of 4 and more), whatever
    container the pixels are in now. High-quality JPEGs (steps under 4) read as not compressed."""
    y = np.asarray(image.convert("L"), dtype=np.float64) - 128.0
    h, w = y.shape
    h, w = min(h, limit) // 8 * 8, min(w, limit) // 8 * 8
    if h < 16 or w < 16:
        return 0.0
    blocks = y[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    c = _DCT @ blocks @ _DCT.T
    scores = []
    for (u, v) in COEFFS:
        x = c[:, u, v]
        x = x[np.abs(x) > 1.0]  # zeros say nothing about the step
        if len(x) < 50:
            continue
        best = 0.0
        for q in range(4, 40):
            big = x[np.abs(x) >= q / 2]
            if len(big) < 30:
                break
            best = max(best, float(np.cos(2 * np.pi * big / q).mean()))
        scores.append(best)
    return float(np.median(scores)) if scores else 0.0


def mixed(probe: np.ndarray, npr: np.ndarray, jpeg: np.ndarray, w_jpeg: float, w_other: float) -> np.ndarray:
    share = np.where(jpeg, w_jpeg, w_other)
    return (1 - share) * probe + share * npr


def report(name: str, labels, probe: dict, npr: dict, jpeg_original, grid, w_other, is_art=None, flags=None) -> dict:
    """AUC (clean, re-saved, and within the JPEG / lossless originals) for each JPEG share. `flags`:
    variant -> which images count as JPEG-compressed (default: the original's container; every
    re-saved copy is a JPEG)."""
    from detector.ml.metrics import paired_auc_difference, roc_auc

    labels = np.asarray(labels)
    jpeg_original = np.asarray(jpeg_original, dtype=bool)
    flags = flags or {"original": jpeg_original, "jpeg75_half": np.ones_like(jpeg_original)}
    print(f"\n{name}: {len(labels)} images ({int(labels.sum())} AI); JPEG originals: "
          f"{int((jpeg_original & (labels == 1)).sum())} AI, {int((jpeg_original & (labels == 0)).sum())} real; "
          f"counted as JPEG-compressed: originals {int(flags['original'].sum())} "
          f"(of the JPEG files {int((flags['original'] & jpeg_original).sum())}, of the others "
          f"{int((flags['original'] & ~jpeg_original).sum())}), re-saved copies {int(flags['jpeg75_half'].sum())}")
    print("| NPR share for JPEG | AUC | after JPEG q75 + half | gap | JPEG originals | lossless originals "
          "| AI vs photos | AI vs art | paired vs shipped, clean; re-saved |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = {}
    base = {v: mixed(probe[v], npr[v], flags[v], w_other, w_other) for v in VARIANTS}
    for w in grid:
        m = {v: mixed(probe[v], npr[v], flags[v], w, w_other) for v in VARIANTS}
        clean, resaved = roc_auc(labels, m["original"]), roc_auc(labels, m["jpeg75_half"])
        within = [roc_auc(labels[mask], m["original"][mask]) for mask in (jpeg_original, ~jpeg_original)]
        kinds = ["-", "-"]
        if is_art is not None:
            art = np.asarray(is_art, dtype=bool)
            ai = labels == 1
            kinds = [f"{roc_auc(labels[mask], m['original'][mask]):.3f}"
                     for mask in (ai | ((labels == 0) & ~art), ai | ((labels == 0) & art))]
        d_clean = paired_auc_difference(labels, base["original"], m["original"])
        d_resaved = paired_auc_difference(labels, base["jpeg75_half"], m["jpeg75_half"])
        print(f"| {w:g} | {clean:.3f} | {resaved:.3f} | {clean - resaved:.3f} | {within[0]:.3f} | {within[1]:.3f} "
              f"| {kinds[0]} | {kinds[1]} | {d_clean[0]:+.3f} ({d_clean[1]:+.3f} to {d_clean[2]:+.3f}); "
              f"{d_resaved[0]:+.3f} ({d_resaved[1]:+.3f} to {d_resaved[2]:+.3f}) |")
        rows[w] = {"auc": clean, "auc_resaved": resaved}
    return rows


def variant_copies(image) -> dict:
    """variant -> the image as the report scores it."""
    from detector.ml.probe import variant_image

    return {v: variant_image(image, v, 0) for v in VARIANTS}


def pixel_or_container_flags(copies: dict, lossless: bool, how: str) -> dict:
    """variant -> counted as JPEG-compressed: by the container (the re-saved copy always), or by the pixels."""
    if how == "container":
        return {"original": not lossless, "jpeg75_half": True}
    return {v: jpeg_quantisation_score(copy) >= PIXEL_JPEG_SCORE for v, copy in copies.items()}


def out_of_source(args, checkpoint):
    from compare_npr_checkpoints import probe_out_of_source

    from detector.ml.datasets import load_image
    from detector.ml.digests import file_sha256
    from detector.ml.out_of_source import MIN_SIDE_JUDGED

    images, sides, probe = probe_out_of_source(args.data_dirs, checkpoint.training_args, args.cache_dir)
    judged = sides >= MIN_SIDE_JUDGED
    npr_info = checkpoint.training_args["npr"]
    a, b = npr_info["platt"]
    table = npr_info["out_of_source_logits"]
    digests = [file_sha256(i.sample.path) for i in images]
    stored = np.array([table[d] for d in digests], dtype=np.float64)
    npr = {v: a * stored[:, k] + b for k, v in enumerate(VARIANTS)}
    jpeg, flags = [], {v: [] for v in VARIANTS}
    for item in images:
        image, lossless = load_image(item.sample.path)
        jpeg.append(not lossless)
        copies = variant_copies(image) if args.flag == "pixels" else {}
        for variant, flag in pixel_or_container_flags(copies, lossless, args.flag).items():
            flags[variant].append(flag)
    jpeg = np.array(jpeg)
    labels = np.array([i.sample.label for i in images])
    is_art = np.array([i.is_art for i in images])
    keep = judged
    return report("Out of source", labels[keep], {v: p[keep] for v, p in probe.items()},
                  {v: n[keep] for v, n in npr.items()}, jpeg[keep], args.grid, float(npr_info.get("npr_weight", 0.5)),
                  is_art[keep], {v: np.array(f)[keep] for v, f in flags.items()})


def in_the_wild(args, checkpoint_path, checkpoint):
    from detector.ml.datasets import load_image
    from detector.ml.inference import load_detector
    from detector.ml.out_of_source import MIN_SIDE_JUDGED, load_images

    detector = load_detector(checkpoint_path)
    a, b = checkpoint.training_args["npr"]["platt"]
    images, sides = load_images(args.wild, log=lambda *_: None)
    kept = [images[i] for i in np.flatnonzero(sides >= MIN_SIDE_JUDGED)]
    probe, npr, jpeg, flags = {v: [] for v in VARIANTS}, {v: [] for v in VARIANTS}, [], {v: [] for v in VARIANTS}
    for item in kept:
        image, lossless = load_image(item.sample.path)
        jpeg.append(not lossless)
        copies = variant_copies(image)  # made once: flagged and scored
        for variant, flag in pixel_or_container_flags(copies, lossless, args.flag).items():
            flags[variant].append(flag)
        for variant, parts in zip(copies, detector.part_logits(copies.values())):  # both copies in one batch
            probe[variant].append(parts.probe)
            npr[variant].append(a * parts.npr + b)
    labels = np.array([i.sample.label for i in kept])
    is_art = np.array([i.is_art for i in kept])
    return report("In the wild", labels, {v: np.array(p) for v, p in probe.items()},
                  {v: np.array(n) for v, n in npr.items()}, np.array(jpeg), args.grid,
                  float(checkpoint.training_args["npr"].get("npr_weight", 0.5)), is_art,
                  {v: np.array(f) for v, f in flags.items()})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--wild", nargs="+", default=None)
    parser.add_argument("--grid", type=lambda s: [float(x) for x in s.split(",")], default=[0, 0.1, 0.2, 0.3, 0.4, 0.5])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--flag", choices=("container", "pixels"), default="container",
                        help="what counts as JPEG-compressed: the file's container, or the pixels' DCT comb")
    parser.add_argument("--skip-out-of-source", action="store_true")
    args = parser.parse_args(argv)

    import django
    import torch

    torch.set_num_threads(args.threads)
    django.setup()
    from detector.ml.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(args.checkpoint)
    if not args.skip_out_of_source:
        out_of_source(args, checkpoint)
    if args.wild:
        in_the_wild(args, args.checkpoint, checkpoint)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
