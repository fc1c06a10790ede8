#!/usr/bin/env python3
"""Experiment (issue 11): how much weight the thumbnail-sized training copy (jpeg75_small) can get.

    .venv/bin/python scripts/experiments/small_copy_weight.py ../shared/data/train var/corpus-train \\
        --wild var/corpus-wild --checkpoint detector/weights/default.pt --cache-dir var/feature-cache

The shipped probe part's head (multi-level crops + whole view, original + JPEG q75/half copies, L2 0.1,
not trained on cifake or hardfaces, 5 folds by source, Platt scaling out of source) fitted with a
third copy of every training image, jpeg75_small, weighted 0 (the shipped head), 0.25, 0.5 and 1
times the others; each probe part mixed with the shipped checkpoint's NPR part as the detector mixes
it (its stored out-of-source logits; in the wild its five members averaged). Prints the mixed AUC as
it is and after JPEG q75 + half size, out of source and in the wild. Reads the feature cache that
train_detector --whole-view --train-variants original,jpeg75_half,jpeg75_small fills. Results:
docs/model/MODEL_CARD.md ("A thumbnail-sized re-saved copy in training"). An experiment: nothing in
the app imports it.
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

SCORED = ("original", "jpeg75_half")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--wild", nargs="+", required=True)
    parser.add_argument("--checkpoint", required=True, help="the shipped efficientnet_lite0_multilevel_npr checkpoint")
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--weights", default="0,0.25,0.5,1", help="weights of the small copy to try")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    import django

    django.setup()
    from detector.ml.metrics import roc_auc
    from detector.ml.npr_training import mix_logits
    from detector.ml.out_of_source import MIN_SIDE_JUDGED, load_images
    from detector.ml.preprocessing import Preprocessing
    from detector.ml.probe import (FeatureExtractor, balanced_weights, fit_linear_head, fit_platt, source_folds,
                                   trainable_mask)
    from shipped_mix import shipped_npr_parts

    quiet = lambda *_: None  # noqa: E731
    images, sides = load_images(args.data_dirs, max_per_source=300, seed=0, log=quiet)
    wild, wild_sides = load_images(args.wild, max_per_source=None, seed=0, log=quiet)
    extractor = FeatureExtractor.imagenet(Preprocessing(input_size=224, max_tiles=5, whole_view=True),
                                          arch="efficientnet_lite0_multilevel", cache_dir=args.cache_dir)
    train = {v: extractor.features([i.sample.path for i in images], v) for v in SCORED + ("jpeg75_small",)}
    in_wild = {v: extractor.features([i.sample.path for i in wild], v) for v in SCORED}
    y, y_wild = np.array([i.sample.label for i in images]), np.array([i.sample.label for i in wild])
    judged, judged_wild = sides >= MIN_SIDE_JUDGED, wild_sides >= MIN_SIDE_JUDGED
    folds = np.array(source_folds(images, 5, 0))
    trainable = trainable_mask(images, ("cifake", "hardfaces"))
    weights = balanced_weights(images)

    npr_oos, npr_wild, share = shipped_npr_parts(args.checkpoint, images, wild, cache_dir=args.cache_dir,
                                                 variants=SCORED, log=quiet)

    print("| small copy's weight | mixed, out of source: clean / re-saved | mixed, in the wild: clean / re-saved |")
    print("|---|---|---|")
    for small_weight in (float(w) for w in args.weights.split(",")):
        def fit(mask):
            xs, ys, ws = [train["original"][mask], train["jpeg75_half"][mask]], [y[mask]] * 2, [weights[mask]] * 2
            if small_weight > 0:
                xs.append(train["jpeg75_small"][mask])
                ys.append(y[mask])
                ws.append(weights[mask] * small_weight)
            return fit_linear_head(np.concatenate(xs), np.concatenate(ys), np.concatenate(ws), l2=0.1)

        oos = {v: np.zeros(len(y)) for v in SCORED}
        for fold in range(5):
            head = fit((folds != fold) & trainable)
            for v in SCORED:
                oos[v][folds == fold] = head.logits(train[v][folds == fold])
        slope, intercept = fit_platt(oos["original"][judged], y[judged], weights[judged])
        head = fit(trainable)
        mixed = mix_logits({v: slope * l + intercept for v, l in oos.items()}, npr_oos, (1.0, 0.0), share)
        mixed_wild = mix_logits({v: slope * head.logits(in_wild[v]) + intercept for v in SCORED}, npr_wild, (1.0, 0.0), share)
        print(f"| {small_weight:g} | {roc_auc(y[judged], mixed['original'][judged]):.3f} / "
              f"{roc_auc(y[judged], mixed['jpeg75_half'][judged]):.3f} | "
              f"{roc_auc(y_wild[judged_wild], mixed_wild['original'][judged_wild]):.3f} / "
              f"{roc_auc(y_wild[judged_wild], mixed_wild['jpeg75_half'][judged_wild]):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
