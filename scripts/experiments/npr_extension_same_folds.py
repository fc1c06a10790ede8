#!/usr/bin/env python3
"""Experiment (issue 11): do more training sources help the NPR members, on the same images and folds?

    .venv/bin/python scripts/experiments/npr_extension_same_folds.py \
        --base ../shared/data/train var/corpus-train \
        --extended ../shared/data/train var/corpus-train var/corpus-gan var/corpus-portraits \
        --checkpoint detector/weights/default.pt --cache-dir var/feature-cache --by-source hardfaces \
        --save-logits var/npr-ext.npz        # about 12 minutes on 2 cores; --load-logits reuses a run

`extension_same_folds.py` asks this of the probe part, whose features read what a picture shows. The
NPR members read the upsampling traces a generator's decoder leaves, so new generators (GANs) may
teach them what the probe cannot learn without learning the subject instead. Here the checkpoint's
source folds are kept for every base image, the new sources join the training side of every fold, and
one NPR member per base fold is trained (the shipped recipe: epochs, draws, crops, seed + fold) and
scores the base images of its fold. The new NPR logits are Platt-scaled on their judged images and
mixed with the checkpoint's probe part (its out-of-source logits recomputed from cached features,
or, with `--probe-extended`, a probe fitted with the new sources too) at the checkpoint's NPR share.
Printed: the NPR part's AUC and the mixed AUC, as the files are and after JPEG q75 + half size,
against the shipped stored logits, with the paired bootstrap (1,000 resamples of images), and with
`--by-source` where the difference comes from. A second draw of member seeds (`--npr-seed`) tells
the comparison's noise: the shipped members came from seed 0 on the base corpus alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")

from same_folds import add_extension_arguments, named_sources, print_by_source  # noqa: E402  (this folder, as the scripts run)


NEW_SOURCE = -1  # the fold id of the new sources: on the training side of every base fold, scored by none


def extended_folds(base_sources, base_folds, ext_sources) -> tuple[np.ndarray, list[str]]:
    """Each extended image's fold: its source's base fold, or NEW_SOURCE for a source the base lacks."""
    fold_of_source = {}
    for source, fold in zip(base_sources, base_folds):
        if fold_of_source.setdefault(source, fold) != fold:
            raise ValueError(f"Source {source!r} is split across folds; the folds must hold whole sources.")
    folds = np.array([fold_of_source.get(s, NEW_SOURCE) for s in ext_sources])
    return folds, sorted(set(ext_sources) - set(fold_of_source))


def training_rows(ext_folds, fold: int, trainable) -> np.ndarray:
    """The extended images fold `fold`'s member trains on: every other base fold and the new sources."""
    return np.flatnonzero((np.asarray(ext_folds) != fold) & np.asarray(trainable, dtype=bool))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_extension_arguments(parser)
    parser.add_argument("--npr-seed", type=int, default=0, help="fold k's member trains with this seed + k (shipped: 0)")
    parser.add_argument("--probe-extended", action="store_true", help="fit the probe part with the new sources too")
    parser.add_argument("--save-logits", type=Path, help="write the new NPR members' logits of the base images here (.npz)")
    parser.add_argument("--load-logits", type=Path, help="reuse logits written by --save-logits instead of training")
    args = parser.parse_args(argv)
    if args.load_logits and not args.load_logits.is_file():
        parser.error(f"--load-logits: no file {args.load_logits}")

    import django

    django.setup()
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.digests import file_sha256
    from detector.ml.metrics import paired_auc_difference, roc_auc
    from detector.ml.npr import members_logits, train_npr
    from detector.ml.npr_training import NPR_VARIANTS, NPRPart, calibrate, image_crops, mix_logits
    from detector.ml.out_of_source import MIN_SIDE_JUDGED, calibrated_figures, extract, load_images
    from detector.ml.preprocessing import Preprocessing
    from detector.ml.probe import (FeatureExtractor, balanced_weights, out_of_source_logits, source_folds,
                                   trainable_mask)

    checkpoint = read_checkpoint(args.checkpoint)
    settings = checkpoint.training_args
    npr = settings.get("npr")
    if not npr or "out_of_source_logits" not in npr:
        raise SystemExit(f"{args.checkpoint} has no stored NPR out-of-source logits to compare with.")
    seed, k = settings["seed"], settings["folds"]
    exclude = tuple(settings["not_trained_on"])
    head_args = dict(train_variants=tuple(settings["train_variants"]), l2=settings["l2"], exclude_sources=exclude)

    base_images, base_sides = load_images(args.base, max_per_source=settings["max_per_source"], seed=seed, log=lambda *_: None)
    source_of = np.array([i.sample.source for i in base_images])
    by_source = named_sources(args.by_source, source_of)
    ext_images, _ = load_images(args.extended, max_per_source=settings["max_per_source"], seed=seed, log=lambda *_: None)
    base_folds = np.asarray(source_folds(base_images, min(k, len({i.sample.source for i in base_images})), seed))
    ext_folds, new_sources = extended_folds([i.sample.source for i in base_images], base_folds,
                                            [i.sample.source for i in ext_images])
    print(f"base: {len(base_images)} images; extended: {len(ext_images)}; new sources ({len(new_sources)}): "
          f"{', '.join(new_sources)}")

    digests = [file_sha256(i.sample.path) for i in base_images]
    ext_position = {file_sha256(i.sample.path): n for n, i in enumerate(ext_images)}
    missing = sum(d not in ext_position or d not in npr["out_of_source_logits"] for d in digests)
    if missing:
        raise SystemExit(f"{missing} base images are not in --extended or have no stored logit in {args.checkpoint}: "
                         "--base must be the checkpoint's training folders and --extended must hold them all.")
    rows = np.array([ext_position[d] for d in digests])
    judged = base_sides >= MIN_SIDE_JUDGED
    labels = np.array([i.sample.label for i in base_images])
    stored = np.array([npr["out_of_source_logits"][d] for d in digests], dtype=np.float64)

    if args.load_logits:
        new_logits = np.load(args.load_logits)["logits"]
        if new_logits.shape != stored.shape:
            raise SystemExit(f"--load-logits: {args.load_logits} holds logits of another set of images.")
    else:
        crops, _ = image_crops(ext_images, cache_dir=args.cache_dir, log=print)
        ext_labels = np.array([i.sample.label for i in ext_images])
        weights = balanced_weights(ext_images)
        trainable = trainable_mask(ext_images, exclude)
        epochs, draws = npr.get("epochs"), npr.get("draws_per_epoch")
        new_logits = np.zeros_like(stored)
        started = time.monotonic()
        for fold in sorted(set(base_folds.tolist())):
            train = training_rows(ext_folds, fold, trainable)
            net = train_npr(crops[train], ext_labels[train], weights[train], epochs=epochs, draws=draws,
                            seed=args.npr_seed + fold, log=lambda *_: None)
            scored = np.flatnonzero(base_folds == fold)
            new_logits[scored] = members_logits([net], crops[rows[scored], :len(NPR_VARIANTS)])
            print(f"  NPR fold {fold}: trained on {len(train)} images, {time.monotonic() - started:.0f} s")
        if args.save_logits:
            np.savez(args.save_logits, logits=new_logits)

    def npr_part(logits) -> NPRPart:
        part = NPRPart([], {v: logits[:, n] for n, v in enumerate(NPR_VARIANTS)})
        calibrate(part, judged, labels, balanced_weights([base_images[i] for i in np.flatnonzero(judged)]))
        return part

    shipped_npr = NPRPart([], {v: stored[:, n] for n, v in enumerate(NPR_VARIANTS)}, platt=tuple(npr["platt"]))
    new_npr = npr_part(new_logits)

    preprocessing = Preprocessing(input_size=settings["input_size"], max_tiles=settings["max_tiles"],
                                  whole_view=settings.get("whole_view") is True,
                                  whole_view_mirrored=settings.get("whole_view_mirrored") is True)
    extractor = FeatureExtractor.imagenet(preprocessing, arch="efficientnet_lite0_multilevel", cache_dir=args.cache_dir)
    needed = list(dict.fromkeys([*head_args["train_variants"], "original", "jpeg75_half"]))
    base_probe = out_of_source_logits(extract(extractor, base_images, needed, log=lambda *_: None), base_images,
                                      base_folds, **head_args)
    if args.probe_extended:
        ext_folds_probe = np.where(ext_folds == NEW_SOURCE, base_folds.max() + 1, ext_folds)
        ext_probe = out_of_source_logits(extract(extractor, ext_images, needed, log=lambda *_: None), ext_images,
                                         ext_folds_probe, **head_args)
        new_probe = {v: l[rows] for v, l in ext_probe.items()}
    else:
        new_probe = base_probe
    share = float(npr.get("npr_weight", 0.5))

    def mixed(probe_logits: dict, part: NPRPart) -> dict:
        slope, intercept = calibrated_figures(probe_logits, base_images, base_sides)["platt"]
        return mix_logits({v: slope * l + intercept for v, l in probe_logits.items()}, part, (1.0, 0.0), share)

    before = {"NPR part": shipped_npr.logits, "mixed": mixed(base_probe, shipped_npr)}
    after = {"NPR part": new_npr.logits, "mixed": mixed(new_probe, new_npr)}
    print(f"judged base images: {int(judged.sum())}")
    for what in before:
        for variant in NPR_VARIANTS:
            b, a = before[what][variant][judged], after[what][variant][judged]
            diff, low, high = paired_auc_difference(labels[judged], b, a)
            print(f"  {what}, {variant}: shipped {roc_auc(labels[judged], b):.4f}, with the new sources "
                  f"{roc_auc(labels[judged], a):.4f}; difference {diff:+.4f} (95% interval {low:+.4f} to {high:+.4f})")
        print_by_source(what, before[what]["original"], after[what]["original"], labels, judged, source_of, by_source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
