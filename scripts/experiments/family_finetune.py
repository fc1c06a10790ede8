#!/usr/bin/env python3
"""Experiment (issue 14): does fine-tuning lite0's last stage make a new generator family separable?

    .venv/bin/python scripts/experiments/family_finetune.py --stages 6 --lr 3e-5 --epochs 4

family_separability.py showed that on the frozen multi-level features even an oracle threshold
(the 99th percentile of the unseen real images) catches only 13.8% of the unseen Gemini family
images. Here the same split (bench/learning_loop.py `plan_split`, seed 0, N = 200, the 80 family
labels and 80 real labels the app's hold-out leaves for training) and the same "push the head
towards the family" fit (family labels against every real image of the base and the labels),
then stage 6 (or 5 and 6), conv_head and the head are fine-tuned on cached stage-4 maps as in
partial_finetune.py. Prints the unseen family's AUC against unseen photos and unseen human art,
and the share of the family above the 99th percentile of the unseen real images, per epoch.
An experiment: nothing in the app imports it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(HERE))

import partial_finetune as pf  # noqa: E402
from family_separability import auc, family_split  # noqa: E402
from detector.ml.preprocessing import Preprocessing  # noqa: E402
from detector.ml.probe import fit_linear_head  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", default="6")
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--family-weight", type=float, default=1.0,
                        help="extra weight of the family labels inside the AI class (the only AI images here)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as work:
        plan, family, real, base_real = family_split(Path(work))
        model = pf.create_multilevel(pretrained=True).eval()
        preprocessing = Preprocessing(input_size=224, max_tiles=5)
        cache = REPO / "var" / "feature-cache"

        def entries(paths):
            return [pf.cached_entry(model, preprocessing, cache, p, "original") for p in paths]

        train_paths = [*family, *base_real, *real]
        train_entries = entries(train_paths)
        scored = {name: entries([p for p, _ in items]) for name, items in plan.scored.items() if name in ("family", "photos", "art")}
    y = np.r_[np.ones(len(family)), np.zeros(len(base_real) + len(real))]
    x = np.stack([e["full"] for e in train_entries]).astype(np.float64)
    head = fit_linear_head(x, y, l2=1.0)
    mean, std = x.mean(0), x.std(0) + 1e-6

    def report(label, scores):
        cut = np.quantile(np.r_[scores["photos"], scores["art"]], 0.99)
        print(f"| {label} | {auc(scores['family'], scores['photos']):.3f} | {auc(scores['family'], scores['art']):.3f} | "
              f"{np.mean(scores['family'] > cut):.1%} |", flush=True)

    print("| model | unseen family vs unseen photos | vs unseen human art | family above the 99th percentile of unseen real |")
    print("|---|---|---|---|")
    report("frozen multi-level, linear head", {k: head.logits(np.stack([e["full"] for e in v])) for k, v in scored.items()})
    weights = np.ones(len(y))
    weights[: len(family)] *= args.family_weight

    def on_epoch(epoch, tail):
        report(f"stages {args.stages} fine-tuned, epoch {epoch}",
               {k: pf.image_logits(tail, v, np.arange(len(v))) for k, v in scored.items()})

    pf.train_tail(model, {v: train_entries for v in pf.VARIANTS}, y.astype(int), weights, np.arange(len(y)), head, mean, std,
                  stages={int(s) for s in args.stages.split(",")}, epochs=args.epochs, lr=args.lr, batch=32, seed=0,
                  on_epoch=on_epoch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
