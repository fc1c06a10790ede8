#!/usr/bin/env python3
"""Experiment (issue 14): can the NPR patch model learn a new family from reviewer labels?

    .venv/bin/python scripts/experiments/family_npr.py [--weights 4,16] [--with-probe]   # the benchmark's folders

Same split as family_separability.py (the benchmark's N = 200: 80 family labels, 80 real labels;
the base is every other source of ../shared/data/train and var/corpus-train, not cifake or
hardfaces). The probe's frozen features barely separate this family from human illustration
(docs/retraining.md); NPR reads pixel-level upsampling traces instead of content, so a family's
decoder may be learnable from few labels. Compared, on the unseen family against unseen photos
and unseen human art:

* NPR trained on the base only (what the shipped members are: they never saw the family);
* NPR trained from scratch on the base plus the labels, labels weighted W times a base image;
* the base NPR fine-tuned for a few epochs on the base plus the labels (W times).

"family above the 99th percentile of unseen real" is an oracle threshold (chosen on the test real
images themselves), the most any threshold rule could catch at a 1% false-positive rate.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from family_separability import ART, FAMILY, OTHER, REAL, C, auc, family_sets, family_split, multilevel_features  # noqa: E402
import learning_loop  # noqa: E402  (bench/, put on the path by family_separability)
from detector.ml.npr import fine_tune_npr, members_logits, train_npr  # noqa: E402
from detector.ml.npr_training import image_crops  # noqa: E402
from detector.ml.out_of_source import load_images  # noqa: E402
from detector.ml.probe import balanced_weights, fit_linear_head  # noqa: E402

CACHE = REPO / "var" / "feature-cache"


def crops_of(paths) -> np.ndarray:
    items = [SimpleNamespace(sample=SimpleNamespace(path=str(p))) for p in paths]
    return image_crops(items, cache_dir=CACHE, log=lambda *_: None)[0]


def report(name, s, seconds) -> None:
    real = np.r_[s["photos"], s["art"]]
    cut = np.quantile(real, 0.99)
    print(f"| {name} | {auc(s['family'], s['photos']):.3f} | {auc(s['family'], s['art']):.3f} | "
          f"{auc(s['family'], real):.3f} | {np.mean(s['family'] > cut):.1%} | {auc(s['other_ai'], real):.3f} | {seconds:.0f} s |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default="4,16", help="label weights W to try")
    parser.add_argument("--with-probe", action="store_true",
                        help="also average each NPR's logits with the linear head of family_separability.py (z-scored on the "
                             "real training images)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as work:
        plan, family, real, _ = family_split(Path(work))
        base, _ = learning_loop.base_view([REPO.parent / "shared" / "data" / "train", C], [*FAMILY, *REAL, *ART, *OTHER], Path(work) / "b")
        images, _ = load_images([str(b) for b in base], max_per_source=300, seed=0, log=lambda *_: None)
        images = [i for i in images if i.sample.source not in ("cifake", "hardfaces")]
        base_crops = crops_of([i.sample.path for i in images])
        probe = probe_logits(Path(work)) if args.with_probe else None
    base_labels = np.array([i.sample.label for i in images])
    base_weights = balanced_weights(images, None, human_art_boost=4.0)  # the retrain recipe's art replay
    label_crops = crops_of([*family, *real])
    label_labels = np.r_[np.ones(len(family)), np.zeros(len(real))]
    tests = {k: crops_of([p for p, _ in v])[:, 0] for k, v in plan.scored.items()}
    real_train = base_crops[base_labels == 0][:, 0]
    print(f"base {len(images)} images; labels {len(family)} family + {len(real)} real; unseen "
          + ", ".join(f"{k} {len(v)}" for k, v in tests.items()))
    print("| NPR | family vs unseen photos | vs unseen art | vs both | family above 99th pct of unseen real | other AI vs real | train time |")
    print("|---|---|---|---|---|---|---|")

    def rows(name, net, seconds):
        scores = {k: members_logits([net], v) for k, v in tests.items()}
        report(name, scores, seconds)
        if probe is not None:
            reference = members_logits([net], real_train)
            mixed = {k: (v - reference.mean()) / reference.std() + probe["tests"][k] for k, v in scores.items()}
            report(f"{name}, averaged with the linear head", mixed, seconds)

    if probe is not None:
        report("linear head alone (family_separability.py)", probe["tests"], 0)
    started = time.monotonic()
    base_net = train_npr(base_crops, base_labels, base_weights, seed=0, log=lambda *_: None)
    rows("base only", base_net, time.monotonic() - started)
    mean_w = float(base_weights.mean())
    for w in (float(v) for v in args.weights.split(",")):
        x = np.concatenate([base_crops, label_crops])
        y = np.r_[base_labels, label_labels]
        weights = np.r_[base_weights, np.full(len(label_labels), w * mean_w)]
        started = time.monotonic()
        net = train_npr(x, y, weights, seed=0, log=lambda *_: None)
        rows(f"base + labels x{w:g}, from scratch", net, time.monotonic() - started)
        for epochs, lr in ((4, 5e-4),):
            started = time.monotonic()
            tuned = fine_tune_npr(base_net, x, y, weights, epochs=epochs, lr=lr)
            rows(f"base NPR fine-tuned {epochs} epochs lr {lr:g}, labels x{w:g}", tuned, time.monotonic() - started)
    return 0


def probe_logits(work: Path) -> dict:
    """The linear head of family_separability.py (80 family labels against every real image), z-scored on its real training images."""
    sets = family_sets(work / "probe")
    f = multilevel_features(sets)
    real = np.r_[f["base_real"], f["real_labels"]]
    head = fit_linear_head(np.r_[f["family_labels"], real], np.r_[np.ones(len(f["family_labels"])), np.zeros(len(real))], l2=1.0)
    reference = head.logits(real)
    return {"tests": {k: (head.logits(f[k]) - reference.mean()) / reference.std() for k in ("family", "photos", "art", "other_ai")}}


if __name__ == "__main__":
    sys.exit(main())
