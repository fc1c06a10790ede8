#!/usr/bin/env python3
"""Experiment (issue 11): two efficientnet_lite0_multilevel_npr checkpoints compared out of source, image by image.

    .venv/bin/python scripts/experiments/compare_npr_checkpoints.py ../shared/data/train var/corpus-train \
        --before detector/weights/default.pt --after var/models/candidate.pt --cache-dir var/feature-cache

Both checkpoints must come from `train_detector --method probe --arch efficientnet_lite0_multilevel_npr`
with the same data, folds and probe settings (a whole view, --whole-view or --mirror-whole-view, and --channel-correlations may differ: each probe part is
then rebuilt with its own features): their probe parts are then the same, and each stores
its NPR members' out-of-source logits (by sha256). The script rebuilds the probe's out-of-source
logits from the feature cache (run_out_of_source, the same protocol), mixes each checkpoint's NPR
logits in with that checkpoint's stored Platt scalings, and prints, on the judged (>= 64 px) images,
each one's AUC as it is and after JPEG q75 + half size, and the paired bootstrap (1,000 resamples of
images) of after minus before. It says nothing about training-seed noise: two trainings of the same
recipe differ too.

With `--after-data-dirs`, the after checkpoint was trained on other folders (a larger corpus, say):
its probe part is rebuilt on those, and both are compared on the images the two have in common (by
sha256), each scored by a model that never saw that image's source.
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


def mixed_logits(checkpoint, probe_calibrated: dict, digests) -> dict:
    """variant -> the checkpoint's mixed logit before its final scaling (AUC does not depend on it)."""
    from detector.ml.npr_training import NPR_VARIANTS, NPRPart, mix_logits

    npr = checkpoint.training_args["npr"]
    table = npr["out_of_source_logits"]
    missing = [d for d in digests if d not in table]
    if missing:
        raise SystemExit(f"{len(missing)} images have no stored NPR logit in this checkpoint: not the same data.")
    stored = np.array([table[d] for d in digests], dtype=np.float64)
    part = NPRPart([], {v: stored[:, k] for k, v in enumerate(NPR_VARIANTS)}, platt=tuple(npr["platt"]))
    return mix_logits(probe_calibrated, part, (1.0, 0.0), float(npr.get("npr_weight", 0.5)))


def probe_out_of_source(data_dirs, settings: dict, cache_dir) -> tuple:
    """(images, sides, probe part's calibrated out-of-source logits per variant) of a probe checkpoint's
    training_args, rebuilt from the feature cache by the same protocol."""
    from detector.ml.out_of_source import run_out_of_source

    result = run_out_of_source(
        data_dirs, folds=settings["folds"], max_per_source=settings["max_per_source"], seed=settings["seed"],
        cache_dir=cache_dir, train_variants=tuple(settings["train_variants"]), l2=settings["l2"],
        exclude_sources=tuple(settings["not_trained_on"]), arch="efficientnet_lite0_multilevel",
        whole_view=settings.get("whole_view") is True, whole_view_mirrored=settings.get("whole_view_mirrored") is True,
        channel_correlations=settings.get("channel_correlations") is True, log=lambda *_: None)
    slope, intercept = result["platt"]
    return result["images"], result["sides"], {v: slope * l + intercept for v, l in result["logits"].items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--after-data-dirs", nargs="+", default=None,
                        help="the folders the after checkpoint was trained on, if not data_dirs")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.digests import file_sha256
    from detector.ml.metrics import paired_auc_difference, roc_auc
    from detector.ml.npr_training import NPR_VARIANTS
    from detector.ml.out_of_source import MIN_SIDE_JUDGED

    before, after = read_checkpoint(args.before), read_checkpoint(args.after)
    settings = before.training_args
    for key in ("folds", "max_per_source", "seed", "train_variants", "l2", "not_trained_on"):
        if settings.get(key) != after.training_args.get(key):
            raise SystemExit(f"The checkpoints differ in {key}: {settings.get(key)!r} and {after.training_args.get(key)!r}.")
    images, sides, probe = probe_out_of_source(args.data_dirs, settings, args.cache_dir)
    after_probe = probe
    digests = [file_sha256(i.sample.path) for i in images]
    if args.after_data_dirs:
        after_images, _, after_probe = probe_out_of_source(args.after_data_dirs, after.training_args, args.cache_dir)
        after_digests = [file_sha256(i.sample.path) for i in after_images]
        position = {d: k for k, d in enumerate(after_digests)}
        common = [k for k, d in enumerate(digests) if d in position]
        print(f"{len(common)} of {len(images)} images are also among the after checkpoint's {len(after_images)}")
        after_mix = mixed_logits(after, after_probe, after_digests)
        after_mix = {v: l[[position[digests[k]] for k in common]] for v, l in after_mix.items()}
        images, sides, digests = [images[k] for k in common], sides[common], [digests[k] for k in common]
        probe = {v: l[common] for v, l in probe.items()}
    elif any((after.training_args.get(key) is True) != (settings.get(key) is True) for key in ("whole_view", "whole_view_mirrored", "channel_correlations")):
        # Probe parts that read different features: each checkpoint's own, by the same protocol on the same images.
        after_images, _, after_probe = probe_out_of_source(args.data_dirs, after.training_args, args.cache_dir)
        if [i.sample.path for i in after_images] != [i.sample.path for i in images]:
            raise SystemExit("The two probe parts were not scored on the same images.")
    judged = sides >= MIN_SIDE_JUDGED
    labels = np.array([i.sample.label for i in images])[judged]
    mixes = {"before": mixed_logits(before, probe, digests),
             "after": after_mix if args.after_data_dirs else mixed_logits(after, after_probe, digests)}
    for variant in NPR_VARIANTS:
        aucs = {name: roc_auc(labels, mix[variant][judged]) for name, mix in mixes.items()}
        difference, low, high = paired_auc_difference(labels, mixes["before"][variant][judged], mixes["after"][variant][judged])
        print(f"{variant}: AUC before {aucs['before']:.4f}, after {aucs['after']:.4f}; "
              f"after minus before {difference:+.4f} (95% interval over images {low:+.4f} to {high:+.4f})")
    for name, mix in mixes.items():
        gap = roc_auc(labels, mix[NPR_VARIANTS[0]][judged]) - roc_auc(labels, mix[NPR_VARIANTS[1]][judged])
        print(f"{name}: AUC lost after JPEG q75 + half size {gap:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
