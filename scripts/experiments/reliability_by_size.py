#!/usr/bin/env python3
"""Experiment (issue 11): how reliable the shipped detector is on small images, as uploaded.

    .venv/bin/python scripts/experiments/reliability_by_size.py ../shared/data/train var/corpus-train \\
        --wild var/corpus-wild --checkpoint detector/weights/default.pt --cache-dir var/feature-cache

Splits the judged images (short side >= 64 px) by the short side of the file a user would upload
(for the JPEG q75 + half size copies, the halved size) and prints, per band: AI and real images,
the ROC AUC of the band's AI images against the band's real images, the real images called likely
AI, and the AI images called likely human, at the checkpoint's own thresholds.

Out of source: every score is from a model that never saw the image's source (the probe part rebuilt
from the feature cache by the out-of-source protocol, the NPR part's stored out-of-source logits,
mixed and scaled with the checkpoint's own calibration; see compare_npr_checkpoints.py). In the
wild: the checkpoint scores the files exactly as the app does. Results: docs/model/MODEL_CARD.md
("Small images"). An experiment: nothing in the app imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")

BANDS = (("64-255", 64, 256), ("256-447", 256, 448), ("448-899", 448, 900), (">= 900", 900, 10 ** 9))


def band_rows(title: str, labels, p_ai, sides, thresholds) -> list[str]:
    """Markdown rows, one per size band, for images with these labels, P(AI) and short sides."""
    from detector.ml.metrics import roc_auc, wilson_interval

    def rate(mask, condition) -> str:
        n, k = int(mask.sum()), int((mask & condition).sum())
        if not n:
            return "-"
        low, high = wilson_interval(k, n)
        return f"{100 * k / n:.1f}% ({k}/{n}; {100 * low:.1f}-{100 * high:.1f}%)"

    rows = []
    for name, low, high in BANDS + (("all judged", 64, 10 ** 9),):
        band = (sides >= low) & (sides < high)
        ai, real = band & (labels == 1), band & (labels == 0)
        auc = roc_auc(labels[band], p_ai[band]) if ai.any() and real.any() else float("nan")
        rows.append(f"| {title} | {name} | {int(ai.sum())} | {int(real.sum())} | {auc:.3f} | "
                    f"{rate(real, p_ai >= thresholds['likely_ai'])} | {rate(ai, p_ai <= thresholds['likely_human'])} |")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--wild", nargs="+", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    import django

    django.setup()
    from compare_npr_checkpoints import mixed_logits, probe_out_of_source
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.digests import file_sha256
    from detector.ml.inference import load_detector
    from detector.ml.out_of_source import MIN_SIDE_JUDGED, load_images, score_folder_as_the_app

    checkpoint = read_checkpoint(args.checkpoint)
    detector = load_detector(args.checkpoint)
    thresholds = detector.thresholds
    header = ["| set | short side (px) | AI | real | AUC, band AI vs band real | real called likely AI | AI called likely human |",
              "|---|---|---|---|---|---|---|"]
    rows = []

    images, sides, probe = probe_out_of_source(args.data_dirs, checkpoint.training_args, args.cache_dir)
    digests = [file_sha256(i.sample.path) for i in images]
    mixed = mixed_logits(checkpoint, probe, digests)
    slope, intercept = checkpoint.training_args["npr"]["mix_platt"]
    judged = sides >= MIN_SIDE_JUDGED
    labels = np.array([i.sample.label for i in images])
    for variant, size in (("original", sides), ("jpeg75_half", sides // 2)):
        p_ai = 1.0 / (1.0 + np.exp(-(slope * mixed[variant] + intercept)))
        keep = judged & (size >= MIN_SIDE_JUDGED)
        rows += band_rows(f"out of source, {variant}", labels[keep], p_ai[keep], size[keep], thresholds)

    scored = score_folder_as_the_app(detector, args.wild, log=lambda *_: None)
    wild_labels = np.array([i.sample.label for i in scored["images"]])
    listed, listed_sides = load_images(args.wild, log=lambda *_: None)
    side_of = {i.sample.path: side for i, side in zip(listed, listed_sides)}
    wild_sides = np.array([side_of[i.sample.path] for i in scored["images"]])
    for variant, size in (("original", wild_sides), ("jpeg75_half", wild_sides // 2)):
        keep = size >= MIN_SIDE_JUDGED
        rows += band_rows(f"in the wild, {variant}", wild_labels[keep], scored["scores"][variant][keep], size[keep],
                          thresholds)
    print(f"{detector.model_version}: likely_ai {thresholds['likely_ai']:.4f}, likely_human {thresholds['likely_human']:.4f}")
    print("\n".join(header + rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
