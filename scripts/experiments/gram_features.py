#!/usr/bin/env python3
"""Experiment (issue 11): texture statistics (channel correlations) of the early stages beside the shipped probe.

    .venv/bin/python scripts/experiments/gram_features.py --train ../shared/data/train var/corpus-train \\
        --wild var/corpus-wild --checkpoint detector/weights/default.pt

The shipped probe reads, per stage of the frozen lite0, each channel's mean and standard deviation
over the crop: first- and second-order statistics of each channel alone. How channels vary
*together* (a Gram or correlation matrix, the "style" of a texture) is what Gram-Net (Liu et al.,
CVPR 2020) found to carry to unseen generators and to survive resizing better than content. This
adds, for the stem and stages 0-3 (32, 16, 24, 40, 80 channels), the upper triangle of the channel
correlation matrix over the spatial positions of each of the five 224-px crops at the file's own
resolution (averaged over the crops; 496 + 120 + 276 + 780 + 3,160 numbers), cached under
var/feature-cache/lite0-multilevel-corr by the product's own extractor (multilevel.channel_correlations,
train_detector --channel-correlations). Rows: the shipped probe part, and the probe part with
some of these blocks added, each fitted with the shipped head recipe (original + JPEG q75/half
copies, L2 0.1, not trained on cifake or hardfaces, per-image source weights, 5 folds by source)
and Platt-scaled out of source, then mixed with the shipped checkpoint's own NPR part as the
detector mixes it (stored out-of-source NPR logits; in the wild its five members averaged). Prints
AUC as it is and after JPEG q75 + half size, out of source and in the wild, and paired bootstraps
(1,000 resamples of images) against the shipped row. An experiment: nothing in the app imports it.
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

VARIANTS = ("original", "jpeg75_half")
BLOCK_NAMES = ("stem", "s0", "s1", "s2", "s3")


def block_slices():
    """{block name: slice of the correlation vector} (multilevel.CORRELATION_CHANNELS, in order)."""
    from detector.ml.multilevel import CORRELATION_CHANNELS

    out, start = {}, 0
    for name, channels in zip(BLOCK_NAMES, CORRELATION_CHANNELS):
        size = channels * (channels - 1) // 2
        out[name] = slice(start, start + size)
        start += size
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", required=True)
    parser.add_argument("--wild", nargs="+", required=True)
    parser.add_argument("--checkpoint", required=True, help="the shipped efficientnet_lite0_multilevel_npr checkpoint")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--l2", type=float, default=0.1)
    parser.add_argument("--extract-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    import django

    django.setup()
    from detector.ml.multilevel import CORRELATION_FEATURES, NUM_FEATURES
    from detector.ml.out_of_source import MIN_SIDE_JUDGED, load_images
    from detector.ml.preprocessing import Preprocessing
    from detector.ml.probe import FeatureExtractor, balanced_weights, source_folds, trainable_mask
    from shipped_mix import mixed_row, print_rows, shipped_npr_parts

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    quiet = lambda *_: None  # noqa: E731
    cache = REPO / "var" / "feature-cache"
    images, sides = load_images(args.train, max_per_source=300, seed=0, log=quiet)
    wild, wild_sides = load_images(args.wild, max_per_source=None, seed=0, log=quiet)
    # The product's own extractor (train_detector --channel-correlations): [crops, correlations, whole view].
    extractor = FeatureExtractor.imagenet(Preprocessing(input_size=224, max_tiles=5, whole_view=True),
                                          arch="efficientnet_lite0_multilevel", cache_dir=cache, channel_correlations=True)
    feats = {}
    for where, items in (("train", images), ("wild", wild)):
        paths = [i.sample.path for i in items]
        for v in VARIANTS:
            vectors = extractor.features(paths, v, log=log)
            corr = vectors[:, NUM_FEATURES:NUM_FEATURES + CORRELATION_FEATURES]
            feats[("tiles", where, v)] = vectors[:, :NUM_FEATURES]
            feats[("whole224", where, v)] = vectors[:, NUM_FEATURES + CORRELATION_FEATURES:]
            for name, part in block_slices().items():
                feats[(name, where, v)] = corr[:, part]
    if args.extract_only:
        return 0

    y, y_wild = np.array([i.sample.label for i in images]), np.array([i.sample.label for i in wild])
    judged, judged_wild = sides >= MIN_SIDE_JUDGED, wild_sides >= MIN_SIDE_JUDGED
    folds = np.array(source_folds(images, 5, 0))
    trainable = trainable_mask(images, ("cifake", "hardfaces"))
    weights = balanced_weights(images)

    npr = shipped_npr_parts(args.checkpoint, images, wild, cache_dir=cache, variants=VARIANTS, log=log)

    def row(names):
        """(out-of-source mixed logits, wild mixed logits, probe oos, probe wild) per variant for one feature set."""
        x = {(where, v): np.hstack([feats[(n, where, v)] for n in names]) for where in ("train", "wild") for v in VARIANTS}
        return mixed_row(x, y, weights, folds, trainable, judged, npr, variants=VARIANTS, l2=args.l2)

    candidates = {
        "shipped: crops + whole224": ["tiles", "whole224"],
        "+ corr stem, s0-s2": ["tiles", "whole224", "stem", "s0", "s1", "s2"],
        "+ corr stem, s0-s3": ["tiles", "whole224", "stem", "s0", "s1", "s2", "s3"],
        "+ corr s3 only": ["tiles", "whole224", "s3"],
        "corr stem, s0-s3 alone": ["stem", "s0", "s1", "s2", "s3"],
    }
    rows = {}
    for label, names in candidates.items():
        rows[label] = row(names)
        log(f"fitted {label}")

    print_rows(rows, y, judged, y_wild, judged_wild, variants=VARIANTS, base_label="shipped: crops + whole224")
    return 0


if __name__ == "__main__":
    sys.exit(main())
