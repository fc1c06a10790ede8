#!/usr/bin/env python3
"""Diagnostic (issue 11): which sources and file formats hold the out-of-source AUC down.

    .venv/bin/python scripts/experiments/oos_auc_by_source.py ../shared/data/train var/corpus-train \
        --checkpoint detector/weights/default.pt --cache-dir var/feature-cache

Recomputes the checkpoint's out-of-source scores (its folds and recipe, mixed with its stored NPR
logits; the figures match its report) and prints the pooled AUC with each source left out of the
scoring in turn (largest change first), the AUC within each file format, and the mean P(AI) and
AUC against all AI images of each real source. It changes no model: it says where more training
data of a kind would matter, not that leaving a source out is allowed.

`--also-train-on SOURCE` (a source the checkpoint was not trained on, e.g. hardfaces) also fits the
heads with it and prints the paired change of the AUC on the other sources and within it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")


def main(argv=None) -> int:
    from source_directions import shipped_parser

    parser = shipped_parser(__doc__)
    parser.add_argument("--also-train-on", default="", help="a source left out of training, fitted on as well")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from PIL import Image

    from detector.ml.metrics import paired_auc_difference, roc_auc
    from detector.ml.out_of_source import out_of_source_platt
    from detector.ml.probe import probabilities_from_logits, source_folds, trainable_mask
    from source_directions import mixed_logits, shipped_inputs

    inputs = shipped_inputs(args.data_dirs, args.checkpoint, args.cache_dir)
    folds = source_folds(inputs.images, inputs.settings["folds"], inputs.settings["seed"])
    logits = mixed_logits(inputs, folds)
    platt = out_of_source_platt(logits, inputs.images, inputs.sides)
    p = {v: probabilities_from_logits(l, *platt) for v, l in logits.items()}
    labels, sources, judged = inputs.labels, inputs.sources, inputs.judged

    def auc(mask, variant="original") -> float:
        return roc_auc(labels[mask], p[variant][mask])

    print(f"all judged images: AUC {auc(judged):.4f}, after JPEG q75 + half {auc(judged, 'jpeg75_half'):.4f}")
    print("\nleft out of the scoring (not of training): AUC, after JPEG q75 + half")
    rows = []
    for source in sorted(set(sources[judged].tolist())):
        keep = judged & (sources != source)
        rows.append((auc(keep) - auc(judged), source, auc(keep), auc(keep, "jpeg75_half"),
                     int((judged & (sources == source)).sum())))
    for change, source, clean, resaved, count in sorted(rows, reverse=True):
        print(f"  {source} ({count} images): {clean:.4f} ({change:+.4f}), {resaved:.4f}")
    print("\nby file format: real, AI, AUC")
    formats = np.array([Image.open(i.sample.path).format or "?" for i in inputs.images])
    for name in sorted(set(formats[judged].tolist())):
        mask = judged & (formats == name)
        both = len(set(labels[mask].tolist())) == 2
        print(f"  {name}: {int((mask & (labels == 0)).sum())}, {int((mask & (labels == 1)).sum())}, "
              + (f"{auc(mask):.4f}" if both else "-"))
    print("\nreal sources: images, mean P(AI), AUC against all AI images")
    ai = judged & (labels == 1)
    for source in sorted(set(sources[judged & (labels == 0)].tolist())):
        mask = judged & (labels == 0) & (sources == source)
        print(f"  {source}: {int(mask.sum())}, {p['original'][mask].mean():.3f}, {auc(mask | ai):.4f}")
    if args.also_train_on:
        left_out = [name for name in inputs.settings["not_trained_on"] if name != args.also_train_on]
        if len(left_out) == len(inputs.settings["not_trained_on"]):
            parser.error(f"{args.also_train_on!r} is not a source the checkpoint was kept from training on.")
        inputs.trainable = trainable_mask(inputs.images, left_out)
        trained = mixed_logits(inputs, folds)
        print(f"\nheads also trained on {args.also_train_on} (paired difference, 95% interval over images):")
        for name, mask in (("the other sources", judged & (sources != args.also_train_on)),
                           (f"within {args.also_train_on}", judged & (sources == args.also_train_on))):
            for variant in ("original", "jpeg75_half"):
                diff, low, high = paired_auc_difference(labels[mask], logits[variant][mask], trained[variant][mask])
                print(f"  {name}, {variant}: {roc_auc(labels[mask], logits[variant][mask]):.4f} -> "
                      f"{roc_auc(labels[mask], trained[variant][mask]):.4f}, {diff:+.4f} ({low:+.4f} to {high:+.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
