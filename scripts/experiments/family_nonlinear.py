#!/usr/bin/env python3
"""Experiment (issue 14): do non-linear heads separate a new family better than the linear one?

    .venv/bin/python scripts/experiments/family_nonlinear.py   # the learning-loop benchmark's folders

Same split, base and features as family_separability.py (the benchmark's N = 200, 80 family labels,
80 real labels, the base's real images; the shipped multi-level features, cached). Compares, on the
unseen family against unseen photos and unseen human art, heads fitted to tell the 80 family labels
from every real image:

* the linear head (family_separability.py's figure, for reference);
* k nearest neighbours on standardised features (cosine): score = mean similarity to the k nearest
  family labels minus mean similarity to the k nearest real images;
* a one-hidden-layer MLP (weighted, classes balanced, weight decay), averaged over 5 seeds.

"family above the 99th percentile of unseen real" is an oracle threshold (chosen on the test real
images themselves), the most any threshold rule could catch at a 1% false-positive rate.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from family_separability import auc, family_sets, multilevel_features  # noqa: E402
from mlp_head import fit_mlp_head  # noqa: E402
from detector.ml.probe import fit_linear_head  # noqa: E402


def knn_scores(train_pos, train_neg, test, k: int) -> np.ndarray:
    pos = train_pos / np.linalg.norm(train_pos, axis=1, keepdims=True)
    neg = train_neg / np.linalg.norm(train_neg, axis=1, keepdims=True)
    t = test / np.linalg.norm(test, axis=1, keepdims=True)
    sp = np.sort(t @ pos.T, axis=1)[:, -k:].mean(1)
    sn = np.sort(t @ neg.T, axis=1)[:, -k:].mean(1)
    return sp - sn


def mlp_scores(x, y, tests, *, hidden=256, decay=1e-2) -> list[np.ndarray]:
    head = fit_mlp_head(x, y, hidden=hidden, decay=decay, epochs=300, seeds=5, dropout=0.2)
    return [head.logits(t) for t in tests]


def report(name, s) -> None:
    cut = np.quantile(np.r_[s["photos"], s["art"]], 0.99)
    print(f"| {name} | {auc(s['family'], s['photos']):.3f} | {auc(s['family'], s['art']):.3f} | "
          f"{auc(s['family'], np.r_[s['photos'], s['art']]):.3f} | {np.mean(s['family'] > cut):.1%} |", flush=True)


def main() -> int:
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as work:
        sets = family_sets(Path(work))
        f = multilevel_features(sets)
    neg = np.r_[f["base_real"], f["real_labels"]]
    x = np.r_[f["family_labels"], neg]
    y = np.r_[np.ones(len(f["family_labels"])), np.zeros(len(neg))]
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = {k: (v - mean) / std for k, v in f.items()}
    tests = ("family", "photos", "art")
    print(f"family labels {len(sets['family_labels'])}, real for the head {len(neg)}; unseen: "
          + ", ".join(f"{k} {len(f[k])}" for k in tests))
    print("| head | family vs unseen photos | vs unseen human art | vs both | family above the 99th pct of unseen real |")
    print("|---|---|---|---|---|")
    head = fit_linear_head(x, y, l2=1.0)
    report("linear (l2 1.0)", {k: head.logits(f[k]) for k in tests})
    for k in (1, 5, 15):
        report(f"kNN k={k}", {t: knn_scores(z["family_labels"], np.r_[z["base_real"], z["real_labels"]], z[t], k) for t in tests})
    zx = np.r_[z["family_labels"], z["base_real"], z["real_labels"]]
    for hidden, decay in ((256, 1e-2), (256, 1e-1), (64, 1e-1)):
        scores = mlp_scores(zx, y, [z[t] for t in tests], hidden=hidden, decay=decay)
        report(f"MLP {hidden} wd {decay}", dict(zip(tests, scores)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
