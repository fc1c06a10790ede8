#!/usr/bin/env python3
"""Experiment (issue 11): a whole-image view next to the multi-level probe's native-resolution crops.

    .venv/bin/python scripts/experiments/global_view.py --train ../shared/data/train var/corpus-train \\
        --wild var/corpus-wild

The shipped probe sees up to five 224-px crops cut at the file's own resolution: on a 2048-px image
that is a small window with little of the scene. This adds the same backbone's multi-level vector
(Lite0, ImageNet weights, 2,848 numbers) of the whole image, shrunk so that its short side is 224 px
and centre-cropped to 224 x 224 (detector/ml/preprocessing.py's whole_view_image, the product's own):
the composition, lighting and style a person sees. Rows: the crops (shipped), the whole-image view
alone, both vectors in one head, and the two heads' logits averaged. The head recipe is the shipped one (original + JPEG q75/half copies,
L2 0.1, not trained on cifake or hardfaces, per-image source weights, 5 folds by source); prints
the out-of-source AUC over judged images (>= 64 px), after JPEG q75 + half, per-source
AUCs of the best row against the shipped one, the wild AUC of a head fitted on every training
source, and paired bootstraps (1,000 resamples of images) against the shipped crops. Whole-image
features are cached under var/feature-cache/lite0-multilevel-whole224, as train_detector --whole-view
caches them. An experiment: nothing in the app imports it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from detector.ml.metrics import paired_auc_difference, roc_auc  # noqa: E402
from detector.ml.out_of_source import load_images  # noqa: E402
from detector.ml.multilevel import NUM_FEATURES  # noqa: E402
from detector.ml.preprocessing import Preprocessing  # noqa: E402
from detector.ml.probe import FeatureExtractor, balanced_weights, fit_linear_head, source_folds, trainable_mask  # noqa: E402

VARIANTS = ("original", "jpeg75_half")


def head_scores(x: dict, y, weights, folds, trainable, l2: float, folds_count: int = 5):
    """The shipped head recipe on feature matrices x[(where, variant)] (where: train or wild): the
    out-of-source logits of the training images per variant (each fold scored by a head fitted on
    the other folds' trainable images, original + JPEG q75/half copies), and the wild logits per
    variant of a head fitted on every trainable image."""
    def fit(mask):
        return fit_linear_head(np.r_[x[("train", "original")][mask], x[("train", "jpeg75_half")][mask]],
                               np.r_[y[mask], y[mask]], np.r_[weights[mask], weights[mask]], l2=l2)

    oos = {v: np.zeros(len(y)) for v in VARIANTS}
    for fold in range(folds_count):
        head = fit((folds != fold) & trainable)
        for v in VARIANTS:
            oos[v][folds == fold] = head.logits(x[("train", v)][folds == fold])
    head = fit(trainable)
    return oos, {v: head.logits(x[("wild", v)]) for v in VARIANTS}


def zscore_on_real(logits, y, reference):
    """logits standardised by the mean and spread of `reference`'s real-image logits (so two heads weigh alike)."""
    real = reference[y == 0]
    return (logits - real.mean()) / (real.std() + 1e-9)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", required=True)
    parser.add_argument("--wild", nargs="+", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--l2", type=float, default=0.1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet = lambda *_: None  # noqa: E731
    images, sides = load_images(args.train, max_per_source=300, seed=0, log=quiet)
    wild, wild_sides = load_images(args.wild, max_per_source=None, seed=0, log=quiet)
    cache = REPO / "var" / "feature-cache"
    # The product's own extractor with a whole view: the crops' vector, then the whole view's.
    extractor = FeatureExtractor.imagenet(Preprocessing(input_size=224, max_tiles=5, whole_view=True),
                                          arch="efficientnet_lite0_multilevel", cache_dir=cache)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    feats = {}
    for where, items in (("wild", wild), ("train", images)):
        for v in VARIANTS:
            both = extractor.features([i.sample.path for i in items], v, log=log)
            feats[("tiles", where, v)], feats[("whole", where, v)] = both[:, :NUM_FEATURES], both[:, NUM_FEATURES:]
    y, y_wild = np.array([i.sample.label for i in images]), np.array([i.sample.label for i in wild])
    judged, judged_wild = sides >= 64, wild_sides >= 64
    folds = np.array(source_folds(images, 5, 0))
    trainable = trainable_mask(images, ("cifake", "hardfaces"))
    weights = balanced_weights(images)

    def scores(names, l2):
        """(out-of-source logits per variant, wild logits per variant) of one head on `names`' vectors."""
        x = {(where, v): np.hstack([feats[(n, where, v)] for n in names]) for where in ("train", "wild") for v in VARIANTS}
        return head_scores(x, y, weights, folds, trainable, l2)

    rows = {
        "crops (shipped probe)": scores(["tiles"], args.l2),
        "whole image alone": scores(["whole"], args.l2),
        "crops + whole image, one head": scores(["tiles", "whole"], args.l2),
    }
    (ot, wt), (ow, ww) = rows["crops (shipped probe)"], rows["whole image alone"]
    rows["crops and whole-image heads, logits averaged"] = (
        {v: zscore_on_real(ot[v], y, ot["original"]) + zscore_on_real(ow[v], y, ow["original"]) for v in VARIANTS},
        {v: zscore_on_real(wt[v], y_wild, wt["original"]) + zscore_on_real(ww[v], y_wild, ww["original"]) for v in VARIANTS})

    print("| features | out-of-source AUC | after JPEG q75 + half | wild AUC | wild after JPEG q75 + half |")
    print("|---|---|---|---|---|")
    for label, (oos, wl) in rows.items():
        print(f"| {label} | {roc_auc(y[judged], oos['original'][judged]):.3f} | {roc_auc(y[judged], oos['jpeg75_half'][judged]):.3f} | "
              f"{roc_auc(y_wild[judged_wild], wl['original'][judged_wild]):.3f} | "
              f"{roc_auc(y_wild[judged_wild], wl['jpeg75_half'][judged_wild]):.3f} |", flush=True)

    print("\nPaired bootstrap against the shipped crops (difference, 95% interval):")
    base_oos, base_wild = rows["crops (shipped probe)"]
    for label, (oos, wl) in list(rows.items())[1:]:
        parts = []
        for name, yy, mask, a, b in (("out of source", y, judged, base_oos, oos), ("wild", y_wild, judged_wild, base_wild, wl)):
            for v in VARIANTS:
                d, lo, hi = paired_auc_difference(yy[mask], a[v][mask], b[v][mask])
                parts.append(f"{name} {v} {d:+.3f} ({lo:+.3f} to {hi:+.3f})")
        print(f"- {label}: " + "; ".join(parts))

    sources = np.array([i.sample.source for i in images])
    best = max(list(rows)[1:], key=lambda k: roc_auc(y[judged], rows[k][0]["original"][judged]))
    print(f"\nPer AI source, out of source (AUC against all judged real images): shipped crops -> {best}")
    real = judged & (y == 0)
    for source in sorted(set(sources[(y == 1) & judged].tolist())):
        pick = real | (judged & (y == 1) & (sources == source))
        print(f"- {source} ({(pick & (y == 1)).sum()}): {roc_auc(y[pick], base_oos['original'][pick]):.3f} -> "
              f"{roc_auc(y[pick], rows[best][0]['original'][pick]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
