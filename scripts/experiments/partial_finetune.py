#!/usr/bin/env python3
"""Experiment (issue 11, part 3): partial fine-tuning of lite0's last stages under the multi-level head.

    .venv/bin/python scripts/experiments/partial_finetune.py \\
        --train ../shared/data/train var/corpus-train --wild var/corpus-wild --stages 6 --epochs 3

The shipped model keeps the whole ImageNet backbone frozen and fits a linear head on its
multi-level vector (detector/ml/multilevel.py). Here the last stage (`--stages 6`) or the last two
(`--stages 5,6`) and conv_head are trained as well, with the head started from the probe's own
logistic regression, batch norm frozen (running statistics kept) and a low learning rate: the
"partial fine-tuning (last blocks only, lower learning rate, source-balanced sampling,
re-encoding)" row the issue asks for. Stages 0-4 stay frozen, so their outputs are computed once:
the stage-4 feature maps of every crop (112 x 14 x 14, float16) and the stage statistics of
stages 0-4 are cached under var/feature-cache/lite0-stage4/<variant>/<sha256>.npz, with the frozen
2,848-d vector (the probe's feature) beside them.

Same protocol as the shipped recipe: original + JPEG q75/half copies, not trained on cifake or
hardfaces, source-balanced weights, 5 folds by source (no fold model sees a source it scores).
Prints, per epoch, the out-of-source AUC over judged images (>= 64 px) on the originals and after
JPEG q75 + half, then the wild AUC of a model trained on every training source for the chosen
number of epochs; the frozen probe's figures come first, from the same cache, as the baseline.
An experiment: nothing in the app imports it.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from detector.ml.datasets import load_image  # noqa: E402
from detector.ml.metrics import roc_auc  # noqa: E402
from detector.ml.multilevel import create_multilevel  # noqa: E402
from detector.ml.out_of_source import load_images  # noqa: E402
from detector.ml.preprocessing import Preprocessing, extract_tiles, to_tensor  # noqa: E402
from detector.ml.probe import (  # noqa: E402
    balanced_weights,
    fit_linear_head,
    fit_platt,
    operating_figures,
    probabilities_from_logits,
    source_folds,
    trainable_mask,
    variant_image,
)
from detector.ml.out_of_source_thresholds import choose_out_of_source_thresholds  # noqa: E402

VARIANTS = ("original", "jpeg75_half")
CACHE_TAG = "lite0-stage4"
FROZEN_STATS = 2 * (16 + 24 + 40 + 80 + 112)  # mean and std of stages 0-4: 544 numbers


# --- the cache: stage-4 maps, stage 0-4 statistics, frozen multi-level vector ----------------------

def _frozen_pass(model, tiles: torch.Tensor):
    """(stage-4 maps, stats of stages 0-4, the 2848-d vector averaged over crops) of one image."""
    b = model.backbone
    with torch.inference_mode():
        x = b.bn1(b.conv_stem(tiles))
        parts = []
        for index, stage in enumerate(b.blocks):
            x = stage(x)
            parts += [x.mean((2, 3)), x.std((2, 3))]
            if index == 4:
                maps, stats = x.clone(), torch.cat(parts, 1)
        parts.append(b.global_pool(b.bn2(b.conv_head(x))).flatten(1))
        full = torch.cat(parts, 1).float().mean(0)
    return maps.half().numpy(), stats.float().numpy(), full.numpy()


def cached_entry(model, preprocessing, cache_dir: Path, path, variant: str) -> dict:
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    cache = cache_dir / CACHE_TAG / variant / f"{digest}.npz"
    if cache.is_file():
        with np.load(cache) as stored:
            return {k: stored[k] for k in ("maps", "stats", "full")}
    image, _ = load_image(io.BytesIO(data))
    image = variant_image(image, variant, int(digest[:8], 16))  # the same seed as FeatureExtractor
    tiles = to_tensor(extract_tiles(image, preprocessing).images, preprocessing)
    maps, stats, full = _frozen_pass(model, tiles)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, maps=maps, stats=stats, full=full)
    return {"maps": maps, "stats": stats, "full": full}


def load_entries(model, preprocessing, cache_dir, images, where: str) -> dict:
    entries = {}
    for variant in VARIANTS:
        started = time.monotonic()
        entries[variant] = [cached_entry(model, preprocessing, cache_dir, i.sample.path, variant) for i in images]
        print(f"  {where} {variant}: {len(images)} images in {time.monotonic() - started:.0f} s", flush=True)
    return entries


# --- the trainable tail ----------------------------------------------------------------------

class Tail(torch.nn.Module):
    """Stages 5-6, conv_head, bn2 and the multi-level linear head, on cached stage-4 maps."""

    def __init__(self, model, train_stages, head, mean, std):
        super().__init__()
        b = model.backbone
        self.stage5, self.stage6 = copy.deepcopy(b.blocks[5]), copy.deepcopy(b.blocks[6])
        self.conv_head, self.bn2 = copy.deepcopy(b.conv_head), copy.deepcopy(b.bn2)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.linear = torch.nn.Linear(len(mean), 1)
        with torch.no_grad():  # the probe's head, rewritten on standardised features
            self.linear.weight.copy_(torch.as_tensor(head.weight * std, dtype=torch.float32)[None])
            self.linear.bias.fill_(float(head.bias + mean @ head.weight))
        for p in self.stage5.parameters():
            p.requires_grad_(5 in train_stages)
        for module in (self.stage6, self.conv_head, self.bn2):
            for p in module.parameters():
                p.requires_grad_(6 in train_stages)

    def forward(self, maps, stats):
        x = self.stage5(maps)
        parts = [stats, x.mean((2, 3)), x.std((2, 3))]
        x = self.stage6(x)
        parts += [x.mean((2, 3)), x.std((2, 3))]
        parts.append(self.bn2(self.conv_head(x)).mean((2, 3)))
        return self.linear((torch.cat(parts, 1) - self.mean) / self.std).squeeze(1)


def image_logits(tail, entries, indices, batch_tiles: int = 64) -> np.ndarray:
    """Mean logit over each image's crops (as the app scores)."""
    tail.eval()
    out = np.zeros(len(indices))
    pending, owners = [], []

    def flush():
        if not pending:
            return
        maps = torch.from_numpy(np.concatenate([m for m, _ in pending])).float()
        stats = torch.from_numpy(np.concatenate([s for _, s in pending]))
        with torch.inference_mode():
            logits = tail(maps, stats).numpy()
        start = 0
        for (m, _), owner in zip(pending, owners):
            out[owner] = logits[start:start + len(m)].mean()
            start += len(m)
        pending.clear()
        owners.clear()

    for position, index in enumerate(indices):
        entry = entries[index]
        pending.append((entry["maps"], entry["stats"]))
        owners.append(position)
        if sum(len(m) for m, _ in pending) >= batch_tiles:
            flush()
    flush()
    return out


def train_tail(model, entries, labels, weights, train_idx, head, mean, std, *, stages, epochs, lr, batch,
               seed, on_epoch=None):
    """Fine-tune the tail on one random crop of one random variant per draw, drawn by weight."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tail = Tail(model, stages, head, mean, std)
    params = [p for p in tail.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    w = weights[train_idx].astype(np.float64).copy()
    y = labels[train_idx]
    for label in (0, 1):
        w[y == label] *= 0.5 / w[y == label].sum()
    draws = len(train_idx)
    for epoch in range(1, epochs + 1):
        tail.eval()  # batch norm keeps its ImageNet running statistics; no dropout
        order = np.random.default_rng(seed + epoch).choice(len(train_idx), size=draws, p=w)
        started, total = time.monotonic(), 0.0
        for start in range(0, draws, batch):
            chosen = order[start:start + batch]
            maps, stats = [], []
            for position in chosen:
                entry = entries[rng.choice(VARIANTS)][train_idx[position]]
                tile = rng.randrange(len(entry["maps"]))
                maps.append(entry["maps"][tile])
                stats.append(entry["stats"][tile])
            logits = tail(torch.from_numpy(np.stack(maps)).float(), torch.from_numpy(np.stack(stats)))
            target = torch.as_tensor(y[chosen], dtype=torch.float32)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(chosen)
        print(f"    epoch {epoch}: loss {total / draws:.4f}, {time.monotonic() - started:.0f} s", flush=True)
        if on_epoch:
            on_epoch(epoch, tail)
    return tail


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", required=True)
    parser.add_argument("--wild", nargs="+", required=True)
    parser.add_argument("--stages", default="6", help="comma-separated stages to train: 6 or 5,6")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--wild-epochs", type=int, default=0, help="epochs of the all-sources model (default: --epochs)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--l2", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--extract-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    stages = {int(s) for s in args.stages.split(",")}
    quiet = lambda *_: None  # noqa: E731
    images, sides = load_images(args.train, max_per_source=300, seed=0, log=quiet)
    wild, wild_sides = load_images(args.wild, max_per_source=None, seed=0, log=quiet)
    model = create_multilevel(pretrained=True).eval()
    preprocessing = Preprocessing(input_size=224, max_tiles=5)
    cache_dir = REPO / "var" / "feature-cache"
    print(f"{len(images)} training images, {len(wild)} wild images; caching stage-4 maps", flush=True)
    entries = load_entries(model, preprocessing, cache_dir, images, "train")
    wild_entries = load_entries(model, preprocessing, cache_dir, wild, "wild")
    if args.extract_only:
        return 0

    y = np.array([i.sample.label for i in images])
    y_wild = np.array([i.sample.label for i in wild])
    judged, judged_wild = sides >= 64, wild_sides >= 64
    folds = np.array(source_folds(images, 5, 0))
    trainable = trainable_mask(images, ("cifake", "hardfaces"))
    weights = balanced_weights(images)
    full = {v: np.stack([e["full"] for e in entries[v]]).astype(np.float64) for v in VARIANTS}
    full_wild = {v: np.stack([e["full"] for e in wild_entries[v]]).astype(np.float64) for v in VARIANTS}

    def probe(mask):
        x = np.r_[full["original"][mask], full["jpeg75_half"][mask]]
        head = fit_linear_head(x, np.r_[y[mask], y[mask]], np.r_[weights[mask], weights[mask]], l2=args.l2)
        return head, x.mean(0), x.std(0) + 1e-6

    def auc(labels, scores, mask):
        return roc_auc(labels[mask], scores[mask])

    base = {v: np.zeros(len(y)) for v in VARIANTS}
    tuned = {}  # epoch -> variant -> out-of-source logits
    for fold in range(5):
        train = (folds != fold) & trainable
        held = np.flatnonzero(folds == fold)
        head, mean, std = probe(train)
        for v in VARIANTS:
            base[v][held] = head.logits(full[v][held])
        print(f"  fold {fold}: {int(train.sum())} training images, {len(held)} held out", flush=True)

        def score(epoch, tail, held=held):
            for v in VARIANTS:
                tuned.setdefault(epoch, {w: np.zeros(len(y)) for w in VARIANTS})[v][held] = image_logits(tail, entries[v], held)

        train_tail(model, entries, y, weights, np.flatnonzero(train), head, mean, std, stages=stages,
                   epochs=args.epochs, lr=args.lr, batch=args.batch, seed=fold, on_epoch=score)

    print("| model | out-of-source AUC | after JPEG q75 + half | photos / art called likely_ai | AI caught |")
    print("|---|---|---|---|---|")

    def row(label, logits):
        slope, intercept = fit_platt(logits["original"][judged], y[judged])
        p = probabilities_from_logits(logits["original"], slope, intercept)
        items = [images[i] for i in np.flatnonzero(judged)]
        thresholds, _ = choose_out_of_source_thresholds(p[judged], items)
        f = operating_figures(p[judged], items, thresholds)
        print(f"| {label} | {auc(y, logits['original'], judged):.3f} | {auc(y, logits['jpeg75_half'], judged):.3f} | "
              f"{f['photos_likely_ai']['rate']:.1%} / {f['art_likely_ai']['rate']:.1%} | {f['ai_caught_likely_ai']['rate']:.1%} |",
              flush=True)

    row("frozen multi-level probe (shipped recipe)", base)
    for epoch in sorted(tuned):
        row(f"stages {args.stages} + head fine-tuned, epoch {epoch}", tuned[epoch])

    # the wild check: one model on every training source
    head, mean, std = probe(trainable)
    wild_base = {v: head.logits(full_wild[v]) for v in VARIANTS}
    wild_tuned = {}

    def score_wild(epoch, tail):
        wild_tuned[epoch] = {v: image_logits(tail, wild_entries[v], np.arange(len(wild))) for v in VARIANTS}

    train_tail(model, entries, y, weights, np.flatnonzero(trainable), head, mean, std, stages=stages,
               epochs=args.wild_epochs or args.epochs, lr=args.lr, batch=args.batch, seed=99, on_epoch=score_wild)
    print("| model | wild AUC | wild after JPEG q75 + half |")
    print("|---|---|---|")
    print(f"| frozen multi-level probe | {auc(y_wild, wild_base['original'], judged_wild):.3f} | "
          f"{auc(y_wild, wild_base['jpeg75_half'], judged_wild):.3f} |")
    for epoch in sorted(wild_tuned):
        print(f"| stages {args.stages} fine-tuned, epoch {epoch} | {auc(y_wild, wild_tuned[epoch]['original'], judged_wild):.3f} | "
              f"{auc(y_wild, wild_tuned[epoch]['jpeg75_half'], judged_wild):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
