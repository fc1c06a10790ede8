#!/usr/bin/env python3
"""List the images a `train_detector --max-per-source N --seed S` run never used (or, with
`--which validation`, the exact validation split it used for early stopping and calibration).

A training capped per source leaves most of the large sources untouched (CIFAKE holds
12k images); those images were neither trained on nor used for early stopping or
calibration, so they make an honest hold-out of the training sources. Writes a
symlink folder with MANIFEST.csv that `evaluate_detector` reads:

    .venv/bin/python scripts/unused_images.py ../shared/data/train var/art-corpus \
        --max-per-source 700 --seed 0 --per-source 200 --out var/holdout
    .venv/bin/python scripts/unused_images.py ../shared/data/train var/art-corpus \
        --max-per-source 700 --seed 0 --which validation --out var/validation
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detector.ml.datasets import cap_per_source, collect_samples, split_samples  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--max-per-source", type=int, required=True, help="the cap the training used")
    parser.add_argument("--seed", type=int, default=0, help="the seed the training used")
    parser.add_argument("--per-source", type=int, default=200, help="at most this many unused images per source and class")
    parser.add_argument("--which", choices=["unused", "validation"], default="unused")
    parser.add_argument("--val-fraction", type=float, default=0.15, help="the validation fraction the training used")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    samples = collect_samples(args.data_dirs, log=lambda m: None)
    capped = cap_per_source(samples, args.max_per_source, args.seed)
    if args.which == "validation":
        unused = split_samples(capped, args.val_fraction, args.seed)[1]
    else:
        used = {s.path for s in capped}
        unused = cap_per_source([s for s in samples if s.path not in used], args.per_source, args.seed + 1)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "MANIFEST.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "generator"])
        for i, s in enumerate(unused):
            rel = Path(s.source) / ("ai" if s.label else "real") / f"{i}_{Path(s.path).name}"
            (args.out / rel).parent.mkdir(parents=True, exist_ok=True)
            if not (args.out / rel).exists():
                os.symlink(os.path.abspath(s.path), args.out / rel)
            writer.writerow([rel.as_posix(), "ai" if s.label else "real", s.generator])
    by_source = {}
    for s in unused:
        key = f"{s.source}/{'ai' if s.label else 'real'}"
        by_source[key] = by_source.get(key, 0) + 1
    what = "validation" if args.which == "validation" else "never-used"
    print(f"{len(unused)} {what} images in {args.out}: {by_source}")


if __name__ == "__main__":
    main()
