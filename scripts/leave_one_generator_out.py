#!/usr/bin/env python3
"""Leave-one-generator-out: how does the detector do on a generator it never saw?

For each held-out AI source (one generator family), train with our own trainer on every
other source, then score the held-out generator's images against real images that no
model saw (a fixed, seeded 15% of the real artwork/photo groups). Writes JSON and a
Markdown table. Usage:

    .venv/bin/python scripts/leave_one_generator_out.py ../shared/data/train var/art-corpus \
        --out docs/model/logo --max-per-source 250 --epochs 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detector.ml.datasets import cap_per_source, collect_samples  # noqa: E402
from detector.ml.inference import load_detector  # noqa: E402
from detector.ml.metrics import roc_auc  # noqa: E402
from detector.ml.training import train_detector  # noqa: E402

HELD_OUT = {
    "stylegan2": "hardfaces",  # GAN faces
    "sdxl": "sdxl_style_previews",  # SDXL style presets
    "comfyui-wild (sd1.5/sdxl/flux)": "comfyui_wild",  # in-the-wild diffusion outputs incl. Flux
    "sd1.x-art": "sd_artist_style_grids",  # SD 1.x artist-style art
}


def _in_real_test(group: str) -> bool:
    return int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < 0.15


def _link_tree(samples, root: Path) -> Path:
    """A folder of symlinks + MANIFEST.csv the trainer reads like any other corpus."""
    import csv

    root.mkdir(parents=True, exist_ok=True)
    with open(root / "MANIFEST.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "generator"])
        for i, s in enumerate(samples):
            unit = s.group.split("/", 2)[-1].replace("/", "_") or "x"
            rel = Path(s.source) / ("ai" if s.label else "real") / unit / f"{i}_{Path(s.path).name}"
            link = root / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(os.path.abspath(s.path))
            writer.writerow([rel.as_posix(), "ai" if s.label else "real", s.generator])
    return root


def _score(detector, samples, batch=16):
    from PIL import Image

    scores = []
    for start in range(0, len(samples), batch):
        images = []
        for s in samples[start : start + batch]:
            with Image.open(s.path) as image:
                image.load()
                images.append(image.copy())
        scores.extend(r.p_ai for r in detector.score_batch(images))
    return np.array(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "model" / "logo")
    parser.add_argument("--work", type=Path, default=REPO / "var" / "logo")
    parser.add_argument("--max-per-source", type=int, default=250)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-eval-per-class", type=int, default=300)
    parser.add_argument("--only", nargs="*", help="held-out names to run (default: all)")
    args = parser.parse_args()

    samples = collect_samples(args.data_dirs, log=lambda m: None)
    real_test = [s for s in samples if s.label == 0 and _in_real_test(s.group)]
    pool = [s for s in samples if not (s.label == 0 and _in_real_test(s.group))]
    rng = np.random.default_rng(0)
    # Every real source counts, not mostly CIFAR thumbnails.
    real_test = cap_per_source(real_test, 40, 0)
    results = {}
    args.out.mkdir(parents=True, exist_ok=True)
    for name, source in HELD_OUT.items():
        if args.only and name not in args.only:
            continue
        held = [s for s in pool if s.label == 1 and s.source == source]
        if len(held) > args.max_eval_per_class:
            held = list(rng.choice(held, args.max_eval_per_class, replace=False))
        train_pool = cap_per_source([s for s in pool if not (s.label == 1 and s.source == source)], args.max_per_source, 0)
        tree = _link_tree(train_pool, args.work / source)
        checkpoint = args.work / f"{source}.pt"
        started = time.monotonic()
        result = train_detector(
            data_dirs=[tree], output=checkpoint, epochs=args.epochs, patience=1, seed=0, progress=False,
            log=lambda m: print(f"[{name}] {m}", flush=True),
        )
        detector = load_detector(checkpoint)
        p_real, p_held = _score(detector, real_test), _score(detector, held)
        labels = np.r_[np.zeros(len(p_real)), np.ones(len(p_held))]
        likely_ai = detector.thresholds["likely_ai"]
        results[name] = {
            "held_out_source": source,
            "held_out_images": len(held),
            "real_test_images": len(real_test),
            "train_images": len(train_pool),
            "roc_auc_unseen_generator_vs_unseen_real": float(roc_auc(labels, np.r_[p_real, p_held])),
            "tpr_unseen_generator_at_likely_ai": float((p_held >= likely_ai).mean()),
            "fpr_unseen_real_at_likely_ai": float((p_real >= likely_ai).mean()),
            "mean_p_ai_unseen_generator": float(p_held.mean()),
            "in_distribution_val_roc_auc": result.metrics.get("roc_auc"),
            "likely_ai_threshold": likely_ai,
            "minutes": round((time.monotonic() - started) / 60, 1),
        }
        print(json.dumps({name: results[name]}, indent=1), flush=True)
        (args.out / "logo.json").write_text(json.dumps(results, indent=1))
    lines = [
        "| held-out generator (source) | train imgs | unseen AI imgs | unseen real imgs | ROC AUC | TPR at likely_ai | FPR at likely_ai | in-dist. val AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} (`{r['held_out_source']}`) | {r['train_images']} | {r['held_out_images']} | {r['real_test_images']} | "
            f"{r['roc_auc_unseen_generator_vs_unseen_real']:.3f} | {r['tpr_unseen_generator_at_likely_ai']:.1%} | "
            f"{r['fpr_unseen_real_at_likely_ai']:.1%} | {r['in_distribution_val_roc_auc']:.3f} |"
        )
    (args.out / "logo.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
