#!/usr/bin/env python3
"""How many labels does the probe head need to learn a generator family it never saw?

    .venv/bin/python bench/new_family_probe.py ../shared/data/train var/corpus-train --family-source nano_banana_pro \\
        --real-sources clothing,photos_denoising_sets,photos_photoprism --cache-dir var/feature-cache

A quick, feature-level precursor of the learning-loop benchmark: the family's source is left out
of the base fit, N labels (half that family, half real photos, weighted as `retrain` weighs
reviewer labels) are added, the head is refitted with the shipped recipe, and the family's other
images are scored against real photos that were neither base nor labels. It does not go through
the database or the registry; `manage.py retrain` does the same fit on exported labels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from detector.ml.metrics import roc_auc, wilson_interval  # noqa: E402
from detector.ml.out_of_source import extract, load_images  # noqa: E402
from detector.ml.preprocessing import Preprocessing  # noqa: E402
from detector.ml.probe import FeatureExtractor, balanced_weights, fit_linear_head, probabilities_from_logits  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--family-source", required=True, help="source whose AI images play the new generator")
    parser.add_argument("--real-sources", required=True, help="comma-separated real sources for labels and testing")
    parser.add_argument("--labels", default="0,50,100,200", help="label counts N (half AI, half real)")
    parser.add_argument("--label-weight", type=float, default=4.0, help="as AIORNOT_RETRAIN_LABEL_WEIGHT")
    parser.add_argument("--exclude-sources", default="cifake,hardfaces")
    parser.add_argument("--max-per-source", type=int, default=300)
    parser.add_argument("--cache-dir", default="var/feature-cache")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    images, _sides = load_images(args.data_dirs, max_per_source=args.max_per_source, seed=args.seed, log=lambda *_: None)
    extractor = FeatureExtractor.imagenet(Preprocessing(input_size=224, max_tiles=5), cache_dir=args.cache_dir)
    variants = ("original", "wild", "jpeg75_half")
    features = extract(extractor, images, variants, log=lambda *_: None)
    source = np.array([i.sample.source for i in images])
    labels = np.array([i.sample.label for i in images])
    rng = np.random.default_rng(args.seed)
    family = np.flatnonzero((source == args.family_source) & (labels == 1))
    real_pool = np.flatnonzero(np.isin(source, args.real_sources.split(",")) & (labels == 0))
    rng.shuffle(family)
    rng.shuffle(real_pool)
    counts = [int(n) for n in args.labels.split(",")]
    reserve = max(counts) // 2  # images that may become labels are never test images
    test_ai, test_real = family[reserve:], real_pool[reserve:]
    base = ~np.isin(source, args.exclude_sources.split(",")) & (source != args.family_source)
    base[real_pool[:reserve]] = False
    weights = balanced_weights(images)
    print(f"family {args.family_source}: {len(family)} images ({len(test_ai)} tested); real test images {len(test_real)}")
    print(f"{'labels':>6} {'family AUC vs real':>19} {'family at P>=0.5':>17}")
    for n in counts:
        fit = base.copy()
        chosen = np.r_[family[: n // 2], real_pool[: n // 2]]
        fit[chosen] = True
        w = weights.copy()
        if n:
            w[chosen] = args.label_weight / np.sqrt(max(1, n // 2))
        x = np.concatenate([features[v][fit] for v in variants])
        head = fit_linear_head(x, np.concatenate([labels[fit]] * 3), np.concatenate([w[fit]] * 3), l2=0.1)
        logits = head.logits(features["original"])
        ids = np.r_[test_ai, test_real]
        caught = int((probabilities_from_logits(logits[test_ai]) >= 0.5).sum())
        low, high = wilson_interval(caught, len(test_ai)) or (float("nan"), float("nan"))
        print(f"{n:>6} {roc_auc(labels[ids], logits[ids]):>19.3f} {100 * caught / len(test_ai):>10.1f}% ({100 * low:.0f}-{100 * high:.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
