#!/usr/bin/env python3
"""Experiment (issue 11): do more training sources help on the same images, scored by the same folds?

    .venv/bin/python scripts/experiments/extension_same_folds.py \
        --base ../shared/data/train var/corpus-train --extended ../shared/data/train var/corpus-train-v2 \
        --checkpoint detector/weights/default.pt --cache-dir var/feature-cache --fold-seeds 1,2,3

`train_detector` on a larger corpus draws new source folds, so its out-of-source AUC moves for two
reasons at once: the new sources, and which old sources were held out together. This script keeps
the shipped checkpoint's folds for every base image and puts the extended corpus's new sources in
an extra group that every fold's head trains on (and that no figure below scores). Each probe part
(the checkpoint's settings: features, copies, L2, exclusions) is Platt-scaled out of source and mixed
with the checkpoint's stored out-of-source NPR logits, as `train_detector` mixes them. It prints the
mixed AUC as the files are and after JPEG q75 + half size, with and without the new sources, and the
paired bootstrap of the difference (1,000 resamples of images).

`--fold-seeds` also scores the base corpus under other fold assignments (the same images, other
groups of held-out sources): how far the out-of-source AUC moves with the folds alone, the noise
any comparison across different folds carries.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")

from same_folds import add_extension_arguments, named_sources, print_by_source  # noqa: E402  (this folder, as the scripts run)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_extension_arguments(parser)
    parser.add_argument("--fold-seeds", default="", help="comma-separated seeds of other fold assignments")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.digests import file_sha256
    from detector.ml.probe import FeatureExtractor
    from detector.ml.metrics import paired_auc_difference, roc_auc
    from detector.ml.npr_training import NPR_VARIANTS, NPRPart, mix_logits
    from detector.ml.out_of_source import MIN_SIDE_JUDGED, calibrated_figures, extract, load_images
    from detector.ml.preprocessing import Preprocessing
    from detector.ml.probe import out_of_source_logits, source_folds

    checkpoint = read_checkpoint(args.checkpoint)
    settings = checkpoint.training_args
    seed, k = settings["seed"], settings["folds"]
    train_variants = tuple(settings["train_variants"])
    head_args = dict(train_variants=train_variants, l2=settings["l2"], exclude_sources=tuple(settings["not_trained_on"]))

    base_images, base_sides = load_images(args.base, max_per_source=settings["max_per_source"], seed=seed, log=lambda *_: None)
    by_source = named_sources(args.by_source, [i.sample.source for i in base_images])
    ext_images, ext_sides = load_images(args.extended, max_per_source=settings["max_per_source"], seed=seed, log=lambda *_: None)
    base_folds = source_folds(base_images, min(k, len({i.sample.source for i in base_images})), seed)
    fold_of_source = {i.sample.source: f for i, f in zip(base_images, base_folds)}
    extra = max(base_folds) + 1
    ext_folds = [fold_of_source.get(i.sample.source, extra) for i in ext_images]
    new_sources = sorted({i.sample.source for i in ext_images} - set(fold_of_source))
    print(f"base: {len(base_images)} images; extended: {len(ext_images)}; new sources ({len(new_sources)}): {', '.join(new_sources)}")

    preprocessing = Preprocessing(input_size=settings["input_size"], max_tiles=settings["max_tiles"],
                                  whole_view=settings.get("whole_view") is True,
                                  whole_view_mirrored=settings.get("whole_view_mirrored") is True)
    extractor = FeatureExtractor.imagenet(preprocessing, arch="efficientnet_lite0_multilevel", cache_dir=args.cache_dir)
    needed = list(dict.fromkeys([*train_variants, "original", "jpeg75_half"]))
    base_features = extract(extractor, base_images, needed, log=lambda *_: None)
    ext_features = extract(extractor, ext_images, needed, log=lambda *_: None)

    digests = [file_sha256(i.sample.path) for i in base_images]
    ext_position = {file_sha256(i.sample.path): n for n, i in enumerate(ext_images)}
    rows = [ext_position[d] for d in digests]
    judged = base_sides >= MIN_SIDE_JUDGED
    labels = np.array([i.sample.label for i in base_images])

    npr = settings["npr"]
    stored = np.array([npr["out_of_source_logits"][d] for d in digests], dtype=np.float64)
    npr_part = NPRPart([], {v: stored[:, n] for n, v in enumerate(NPR_VARIANTS)}, platt=tuple(npr["platt"]))

    def mixed(probe_logits: dict) -> dict:
        slope, intercept = calibrated_figures(probe_logits, base_images, base_sides)["platt"]
        calibrated = {v: slope * l + intercept for v, l in probe_logits.items()}
        return mix_logits(calibrated, npr_part, (1.0, 0.0), float(npr.get("npr_weight", 0.5)))

    shipped = mixed(out_of_source_logits(base_features, base_images, base_folds, **head_args))
    extended_logits = out_of_source_logits(ext_features, ext_images, ext_folds, **head_args)
    extended = mixed({v: l[rows] for v, l in extended_logits.items()})

    def report(name: str, after: dict) -> None:
        for variant in NPR_VARIANTS:
            before_auc = roc_auc(labels[judged], shipped[variant][judged])
            after_auc = roc_auc(labels[judged], after[variant][judged])
            diff, low, high = paired_auc_difference(labels[judged], shipped[variant][judged], after[variant][judged])
            print(f"  {name}, {variant}: shipped folds {before_auc:.4f}, this {after_auc:.4f}; "
                  f"difference {diff:+.4f} (95% interval {low:+.4f} to {high:+.4f})")

    print(f"judged base images: {int(judged.sum())}")
    report("with the new sources, same folds", extended)
    print_by_source("with the new sources", shipped["original"], extended["original"], labels, judged,
                    np.array([i.sample.source for i in base_images]), by_source)
    for fold_seed in [int(s) for s in args.fold_seeds.split(",") if s.strip()]:
        folds = source_folds(base_images, min(k, len(fold_of_source)), fold_seed)
        report(f"base corpus, folds drawn with seed {fold_seed}",
               mixed(out_of_source_logits(base_features, base_images, folds, **head_args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
