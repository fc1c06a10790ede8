#!/usr/bin/env python3
"""Experiment (issue 11): a small MLP head instead of the linear one, on the same frozen features.

    .venv/bin/python scripts/experiments/mlp_head.py ../shared/data/train var/corpus-train --wild var/corpus-wild

Runs the shipped recipe's out-of-source protocol (5 source folds, at most 300 images per source and
class, multi-level lite0 features, train variants original + jpeg75_half, cifake and hardfaces not
fitted) once per head (`--heads`): the shipped linear head, a one-hidden-layer MLP in its place (same
weights per image, classes balanced, weight decay, averaged over seeds), or both with their logits
averaged. Each is calibrated and thresholded out of source exactly as `train_probe_detector` does.
Then each head is fitted on every source and scores the in-the-wild folder (never trained or tuned
on) at the out-of-source thresholds. Prints the headline figures of each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from detector.ml import probe  # noqa: E402
from detector.ml.out_of_source import MIN_SIDE_JUDGED, extract, load_images, run_out_of_source  # noqa: E402

TRAIN_VARIANTS = ("original", "jpeg75_half")
EXCLUDE = ("cifake", "hardfaces")


class MLPHead:
    """A one-hidden-layer MLP on standardised features, an ensemble of seeds (logits averaged)."""

    def __init__(self, nets, mean, std):
        self.nets, self.mean, self.std = nets, mean, std

    def logits(self, features) -> np.ndarray:
        x = torch.as_tensor((np.asarray(features, dtype=np.float64) - self.mean) / self.std, dtype=torch.float32)
        with torch.no_grad():
            return np.mean([net(x).squeeze(1).double().numpy() for net in self.nets], axis=0)


def fit_mlp_head(features, labels, weights=None, *, hidden=128, decay=0.05, epochs=200, seeds=3, dropout=0.3, **_):
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    for label in (0.0, 1.0):
        w[y == label] *= 0.5 / w[y == label].sum()
    mean, std = x.mean(0), x.std(0) + 1e-6
    xt = torch.as_tensor((x - mean) / std, dtype=torch.float32)
    yt, wt = torch.as_tensor(y, dtype=torch.float32), torch.as_tensor(w, dtype=torch.float32)
    nets = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(x.shape[1], hidden), torch.nn.GELU(),
                                  torch.nn.Dropout(dropout), torch.nn.Linear(hidden, 1))
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=decay)
        for _ in range(epochs):
            opt.zero_grad()
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(net(xt).squeeze(1), yt, reduction="none") * wt).sum()
            loss.backward()
            opt.step()
        nets.append(net.eval())
    return MLPHead(nets, mean, std)


def mlp_fitter(linear, hidden, decay):
    """fit_linear_head's signature; one-column inputs (Platt scaling) stay linear."""
    def fit(x, y, w=None, **kwargs):
        if np.asarray(x).shape[1] == 1:
            return linear(x, y, w, **kwargs)
        return fit_mlp_head(x, y, w, hidden=hidden, decay=decay)
    return fit


class AveragedHead:
    """The mean of two heads' logits (the issue's "averaging the logits of the best two")."""

    def __init__(self, *heads):
        self.heads = heads

    def logits(self, features) -> np.ndarray:
        return np.mean([head.logits(features) for head in self.heads], axis=0)


def averaged_fitter(linear, hidden, decay):
    """The linear head and the MLP fitted on the same data, their logits averaged; Platt stays linear."""
    def fit(x, y, w=None, **kwargs):
        if np.asarray(x).shape[1] == 1:
            return linear(x, y, w, **kwargs)
        return AveragedHead(linear(x, y, w, **kwargs), fit_mlp_head(x, y, w, hidden=hidden, decay=decay))
    return fit


def row(name, f) -> str:
    def pct(entry):
        return f"{entry['rate']:.1%} ({entry['count']}/{entry['of']})"
    return (f"| {name} | {f['auc_ai_vs_all_real']:.3f} | {f['auc_ai_vs_photos']:.3f} | {f['auc_ai_vs_art']:.3f} | "
            f"{pct(f['photos_likely_ai'])} | {pct(f['art_likely_ai'])} | {pct(f['ai_caught_likely_ai'])} | "
            f"{pct(f['ai_likely_human'])} | {f.get('auc_after_jpeg75_half', float('nan')):.3f} |")


def fit_on_every_source(result, fit):
    """A head fitted by `fit` on every trainable image of an out-of-source run (the in-the-wild model)."""
    images = result["images"]
    labels = np.array([i.sample.label for i in images])
    trainable = probe.trainable_mask(images, EXCLUDE)
    weights = probe.balanced_weights(images)
    x = np.concatenate([result["features"][v][trainable] for v in TRAIN_VARIANTS])
    y = np.concatenate([labels[trainable]] * len(TRAIN_VARIANTS))
    w = np.concatenate([weights[trainable]] * len(TRAIN_VARIANTS))
    return fit(x, y, w, l2=0.1)


def wild_figures(result, fit, wild_dirs) -> dict:
    head = fit_on_every_source(result, fit)
    wild, sides = load_images(wild_dirs, max_per_source=None, seed=0, log=lambda *_: None)
    feats = extract(result["extractor"], wild, ["original", "jpeg75_half"], log=lambda *_: None)
    judged = sides >= MIN_SIDE_JUDGED
    slope, intercept = result["platt"]
    judged_images = [wild[i] for i in np.flatnonzero(judged)]
    out = {}
    for variant in ("original", "jpeg75_half"):
        p = probe.probabilities_from_logits(head.logits(feats[variant][judged]), slope, intercept)
        out[variant] = probe.operating_figures(p, judged_images, result["thresholds"])
    out["original"]["auc_after_jpeg75_half"] = out["jpeg75_half"]["auc_ai_vs_all_real"]
    return out["original"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+")
    parser.add_argument("--wild", nargs="*", default=[])
    parser.add_argument("--cache-dir", default=str(REPO / "var" / "feature-cache"))
    parser.add_argument("--hidden", default="128")
    parser.add_argument("--decay", default="0.05")
    parser.add_argument("--heads", default="linear,mlp", help="rows: linear, mlp, average (linear + MLP, logits averaged)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    linear = probe.fit_linear_head
    kinds = set(args.heads.split(","))
    heads = [("linear (shipped)", linear)] if "linear" in kinds else []
    for hidden in (int(h) for h in args.hidden.split(",")):
        for decay in (float(d) for d in args.decay.split(",")):
            if "mlp" in kinds:
                heads.append((f"MLP {hidden}, wd {decay}", mlp_fitter(linear, hidden, decay)))
            if "average" in kinds:
                heads.append((f"linear + MLP {hidden}, wd {decay}, logits averaged", averaged_fitter(linear, hidden, decay)))
    header = ("| head | AUC | vs photos | vs art | photos likely AI | art likely AI | AI caught | AI likely human | "
              "AUC after JPEG q75 + half |\n|---|---|---|---|---|---|---|---|---|")
    lines = {"out of source": [], "in the wild": []}
    for name, fit in heads:
        probe.fit_linear_head = fit  # out_of_source_logits looks it up in the probe module
        try:
            result = run_out_of_source(args.data, max_per_source=300, cache_dir=args.cache_dir, train_variants=TRAIN_VARIANTS,
                                       l2=0.1, exclude_sources=EXCLUDE, arch="efficientnet_lite0_multilevel",
                                       log=lambda *_: None)
            lines["out of source"].append(row(name, result["figures"]))
            if args.wild:
                lines["in the wild"].append(row(name, wild_figures(result, fit, args.wild)))
        finally:
            probe.fit_linear_head = linear
        print(f"done: {name} (thresholds {result['thresholds']})", flush=True)
    for title, rows in lines.items():
        if rows:
            print(f"\n{title}\n{header}\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
