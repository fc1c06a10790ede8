#!/usr/bin/env python3
"""Experiment (issue 14): how separable is a new generator family on the probe's frozen features?

    .venv/bin/python scripts/experiments/family_separability.py   # the learning-loop benchmark's folders

Uses the learning-loop benchmark's own split (bench/learning_loop.py `plan_split`, seed 0, N = 200,
the first 80% of each half as the training labels, as the app's hold-out leaves them) and base
(every source of ../shared/data/train and var/corpus-train except the tested ones, not cifake or
hardfaces). Fits one head to tell the 80 family labels from every real image (base and labels),
the most a linear head on these features can be pushed towards the family, and prints the AUC
of the unseen family images against unseen photos and against unseen human art, and the share of
the family above the 99th percentile of the unseen real images (an oracle threshold: no
recipe's threshold can do better at a 1% false-positive rate). Features: the shipped multi-level
vector, the 33 residual features of residual_features.py, and both.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import learning_loop  # noqa: E402
import residual_features  # noqa: E402
from detector.ml.metrics import roc_auc  # noqa: E402
from detector.ml.out_of_source import load_images  # noqa: E402
from detector.ml.preprocessing import Preprocessing  # noqa: E402
from detector.ml.probe import FeatureExtractor, fit_linear_head  # noqa: E402

C = REPO / "var" / "corpus-train"
FAMILY = [C / "nano_banana_pro/ai"]
REAL = [C / "photos_denoising_sets/real", C / "photos_photoprism/real"]
ART = [C / "art_manga109/real", C / "deb_wesnoth/real", C / "deb_krita/real"]
OTHER = [C / f"{s}/ai" for s in ("midjourney_react19", "ideogram4", "imagen3_artai", "imagen3_dogao", "imagen3_smarthome",
                                  "flux_kontext_comfy", "kolors_results")]


def auc(positive, negative) -> float:
    return float(roc_auc(np.r_[np.ones(len(positive)), np.zeros(len(negative))], np.r_[positive, negative]))


def family_split(work: Path):
    """(the benchmark's plan, 80 family labels, 80 real labels, the base's real images) at N = 200."""
    plan = learning_loop.plan_split(family=FAMILY, real=REAL, photos=REAL, art=ART, other_ai=OTHER, counts=[200], max_scored=150)
    labels = plan.labels_for(200)
    family = [p for label, p, _ in labels if label == "ai"][:80]
    real = [p for label, p, _ in labels if label == "human"][:80]
    base, _ = learning_loop.base_view([REPO.parent / "shared" / "data" / "train", C], [*FAMILY, *REAL, *ART, *OTHER], work)
    images, _ = load_images([str(b) for b in base], max_per_source=300, seed=0, log=lambda *_: None)
    base_real = [i.sample.path for i in images if i.sample.label == 0 and i.sample.source not in ("cifake", "hardfaces")]
    return plan, family, real, base_real


def family_sets(work: Path) -> dict:
    """Paths by set: family_labels, real_labels, base_real and the benchmark's unseen sets (family, photos, art, ...)."""
    plan, family, real, base_real = family_split(work)
    return {"family_labels": family, "real_labels": real, "base_real": base_real,
            **{name: [p for p, _ in items] for name, items in plan.scored.items()}}


def multilevel_features(sets: dict) -> dict:
    """The shipped multi-level features of each set's original files (cached in var/feature-cache)."""
    extractor = FeatureExtractor.imagenet(Preprocessing(input_size=224, max_tiles=5), arch="efficientnet_lite0_multilevel",
                                          cache_dir=REPO / "var" / "feature-cache")
    return {name: extractor.features(paths, "original") for name, paths in sets.items()}


def main() -> int:
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as work:
        sets = family_sets(Path(work))
        multilevel = multilevel_features(sets)
        residual = {name: residual_features.residual_features(paths, "original", 2) for name, paths in sets.items()}
    print("| features | unseen family vs unseen photos | vs unseen human art | family above the 99th percentile of unseen real |")
    print("|---|---|---|---|")
    for name, feats in (("multi-level (shipped)", multilevel), ("residual (33)", residual),
                        ("both", {k: np.hstack([multilevel[k], residual[k]]) for k in multilevel})):
        x = np.r_[feats["family_labels"], feats["base_real"], feats["real_labels"]]
        y = np.r_[np.ones(len(feats["family_labels"])), np.zeros(len(feats["base_real"]) + len(feats["real_labels"]))]
        head = fit_linear_head(x, y, l2=1.0)
        s = {k: head.logits(feats[k]) for k in ("family", "photos", "art")}
        cut = np.quantile(np.r_[s["photos"], s["art"]], 0.99)
        print(f"| {name} | {auc(s['family'], s['photos']):.3f} | {auc(s['family'], s['art']):.3f} | {np.mean(s['family'] > cut):.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
