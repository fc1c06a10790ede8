#!/usr/bin/env python3
"""Experiment (issue 11): where the probe part's in-the-wild re-save gap comes from, by image size.

    .venv/bin/python scripts/experiments/resave_gap_by_size.py ../shared/data/train var/corpus-train \\
        --wild var/corpus-wild --cache-dir var/feature-cache

Fits the shipped probe part's head (multi-level crops + whole view, original + JPEG q75/half copies,
L2 0.1, not trained on cifake or hardfaces) on every training source, scores the in-the-wild set as
it is and after JPEG q75 + half size, and prints the AUC of each size band of AI images (short side
under 448 px, 448-899, 900 and over) against all real images, the same for each band of real images
against all AI images, and the mean logit drop a re-save causes per class. Reads the feature cache
that train_detector --whole-view fills. Results: docs/model/MODEL_CARD.md ("A thumbnail-sized
re-saved copy in training"). An experiment: nothing in the app imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")

BANDS = (("short side < 448", 0, 448), ("448-899", 448, 900), (">= 900", 900, 10 ** 9))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--wild", nargs="+", required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    import django

    django.setup()
    from detector.ml.metrics import roc_auc
    from detector.ml.out_of_source import MIN_SIDE_JUDGED, load_images
    from detector.ml.preprocessing import Preprocessing
    from detector.ml.probe import FeatureExtractor, balanced_weights, fit_linear_head, trainable_mask

    quiet = lambda *_: None  # noqa: E731
    images, _sides = load_images(args.data_dirs, max_per_source=300, seed=0, log=quiet)
    wild, sides = load_images(args.wild, max_per_source=None, seed=0, log=quiet)
    extractor = FeatureExtractor.imagenet(Preprocessing(input_size=224, max_tiles=5, whole_view=True),
                                          arch="efficientnet_lite0_multilevel", cache_dir=args.cache_dir)
    feats = {(where, v): extractor.features([i.sample.path for i in items], v)
             for where, items in (("train", images), ("wild", wild)) for v in ("original", "jpeg75_half")}
    y = np.array([i.sample.label for i in images])
    y_wild = np.array([i.sample.label for i in wild])
    fit = trainable_mask(images, ("cifake", "hardfaces"))
    weights = balanced_weights(images)
    head = fit_linear_head(np.r_[feats[("train", "original")][fit], feats[("train", "jpeg75_half")][fit]],
                           np.r_[y[fit], y[fit]], np.r_[weights[fit], weights[fit]], l2=0.1)
    clean, resaved = head.logits(feats[("wild", "original")]), head.logits(feats[("wild", "jpeg75_half")])
    judged = sides >= MIN_SIDE_JUDGED
    print(f"all judged: AUC {roc_auc(y_wild[judged], clean[judged]):.3f} -> {roc_auc(y_wild[judged], resaved[judged]):.3f} "
          "after JPEG q75 + half size")
    for label, other in ((1, 0), (0, 1)):
        for name, low, high in BANDS:
            pick = (judged & (y_wild == other)) | (judged & (y_wild == label) & (sides >= low) & (sides < high))
            count = int((pick & (y_wild == label)).sum())
            if count:
                print(f"{'AI' if label else 'real'} images, {name} ({count}) against all {'real' if label else 'AI'}: "
                      f"AUC {roc_auc(y_wild[pick], clean[pick]):.3f} -> {roc_auc(y_wild[pick], resaved[pick]):.3f}")
    for label in (1, 0):
        mask = judged & (y_wild == label)
        print(f"mean logit change after the re-save, {'AI' if label else 'real'}: {(resaved - clean)[mask].mean():+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
