#!/usr/bin/env python3
"""Experiment (issue 11): how many 64-px crops the NPR members should score per image, measured out of source.

    .venv/bin/python scripts/experiments/npr_crop_count.py ../shared/data/train var/corpus-train \
        --checkpoint detector/weights/default.pt --cache-dir var/feature-cache --counts 8,16,32

The shipped model scores 8 crops per image. The members were trained on crops, not on images, so
scoring more crops of an image only averages more evidence. Every image is scored by the member
that never trained on its source (as the checkpoint's stored out-of-source logits were), as it is
and after JPEG q75 + half size; the NPR part's Platt scaling is refitted for each count, then mixed
with the probe's out-of-source logits exactly as train_detector does. Crop positions come from the
same seeded draw, so the first 8 of 32 crops are the shipped 8 (checked against the stored logits).
Also tried: the 8 (or 16) most and least textured of the 32 (by mean |NPR residual|), and the median
over the 32. Prints AUCs on the judged (>= 64 px) images, paired bootstraps against the first row, and
the originals' AUCs within JPEG files and within PNG files (so a format shortcut would show). Every
crop's logit is cached in --cache-dir (npr-crop-logits-experiment-<count>.npz) for a rerun.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")


def all_crops(images, count: int, cache: Path | None) -> np.ndarray:
    """(n, 2 variants, count, 64, 64, 3) uint8 native crops, cached in one .npy."""
    from detector.ml.datasets import load_image
    from detector.ml.digests import file_sha256
    from detector.ml.npr import native_crops
    from detector.ml.npr_training import NPR_VARIANTS
    from detector.ml.probe import variant_image

    if cache is not None and cache.is_file():
        return np.load(cache, mmap_mode="r")
    out = np.empty((len(images), len(NPR_VARIANTS), count, 64, 64, 3), dtype=np.uint8)
    started = time.monotonic()
    for index, item in enumerate(images):
        data = Path(item.sample.path).read_bytes()
        digest = file_sha256(item.sample.path)
        image, _ = load_image(io.BytesIO(data))
        for k, variant in enumerate(NPR_VARIANTS):
            out[index, k] = native_crops(variant_image(image, variant, int(digest[:8], 16)), count=count)
        if (index + 1) % 500 == 0:
            print(f"  crops {index + 1}/{len(images)} at {time.monotonic() - started:.0f} s", flush=True)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, out)
    return out


def crop_energy(crops: np.ndarray) -> np.ndarray:
    """(n, variants, count) mean |NPR residual| of each crop (npr.residual_energy), in chunks of images."""
    from detector.ml.npr import residual_energy

    return np.concatenate([residual_energy(np.asarray(crops[start:start + 256])) for start in range(0, len(crops), 256)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--counts", default="8,16,32")
    args = parser.parse_args(argv)
    counts = sorted(int(c) for c in args.counts.split(","))

    import django

    django.setup()
    import torch

    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.digests import file_sha256
    from detector.ml.metrics import paired_auc_difference, roc_auc
    from detector.ml.npr_training import NPR_VARIANTS, NPRPart, calibrate, held_out_by_member, mix_logits, provenance_logits
    from detector.ml.out_of_source import MIN_SIDE_JUDGED
    from detector.ml.probe import balanced_weights
    from detector.ml.architectures import model_for_state_dict
    from compare_npr_checkpoints import probe_out_of_source  # this folder is on sys.path when run as a script

    torch.set_num_threads(2)
    checkpoint = read_checkpoint(args.checkpoint)
    settings = checkpoint.training_args
    images, sides, probe = probe_out_of_source(args.data_dirs, settings, args.cache_dir)
    judged = sides >= MIN_SIDE_JUDGED
    labels = np.array([i.sample.label for i in images])
    weights = balanced_weights([images[i] for i in np.flatnonzero(judged)])

    model = model_for_state_dict(checkpoint.arch, checkpoint.state_dict)
    model.load_state_dict(checkpoint.state_dict)
    members = list(model.npr)
    digests = [file_sha256(i.sample.path) for i in images]
    crops = all_crops(images, max(counts), Path(args.cache_dir) / f"npr-crops-experiment-64x{max(counts)}.npy")
    held = held_out_by_member(members, settings["npr"], images, np.asarray(crops[:, :, :8]), digests)
    if held is None:
        raise SystemExit("Cannot tell which member held out which source.")

    saved = Path(args.cache_dir) / f"npr-crop-logits-experiment-{max(counts)}.npz"
    if saved.is_file() and np.load(saved)["digest"].tolist() == digests:
        crop_logits, energy = np.load(saved)["logits"], np.load(saved)["energy"]
    else:
        started = time.monotonic()
        # A crop axis of one: provenance_logits then keeps every crop's logit instead of their mean.
        crop_logits = provenance_logits(members, held, images, np.asarray(crops)[:, :, :, None])
        energy = crop_energy(crops)
        print(f"  every crop scored in {time.monotonic() - started:.0f} s", flush=True)
        np.savez(saved, logits=crop_logits, energy=energy, digest=np.array(digests))

    def scored(logits: np.ndarray) -> dict:
        part = NPRPart(members, {v: logits[:, k] for k, v in enumerate(NPR_VARIANTS)})
        calibrate(part, judged, labels, weights)
        return {"npr": part.logits, "mix": mix_logits(probe, part, (1.0, 0.0))}

    rows = {f"{c} crops": scored(crop_logits[:, :, :c].mean(axis=-1)) for c in counts}
    if max(counts) > 8:
        order = np.argsort(-energy, axis=-1)
        for keep in (8, 16):
            rows[f"{keep} most textured of {max(counts)}"] = scored(
                np.take_along_axis(crop_logits, order[..., :keep], axis=-1).mean(axis=-1))
            rows[f"{keep} least textured of {max(counts)}"] = scored(
                np.take_along_axis(crop_logits, order[..., -keep:], axis=-1).mean(axis=-1))
    rows[f"median of {max(counts)}"] = scored(np.median(crop_logits, axis=-1))
    stored = np.array([settings["npr"]["out_of_source_logits"][d][0] for d in digests])
    if 8 in counts:
        gap = np.abs(rows["8 crops"]["npr"]["original"] - stored)
        print(f"8 crops against the checkpoint's stored logits: max |difference| {gap.max():.4f} (fp16 weights)")

    base = rows[f"{counts[0]} crops"]
    y = labels[judged]
    print(f"\n{judged.sum()} judged images; probe part AUC {roc_auc(y, probe['original'][judged]):.4f} / "
          f"re-saved {roc_auc(y, probe['jpeg75_half'][judged]):.4f}")
    print("| NPR crops scored | NPR part AUC (as is / re-saved) | mixed AUC | mixed re-saved | lost to re-save | mixed minus first row (as is; re-saved) |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        npr = [roc_auc(y, row["npr"][v][judged]) for v in NPR_VARIANTS]
        mix = [roc_auc(y, row["mix"][v][judged]) for v in NPR_VARIANTS]
        diffs = []
        for v in NPR_VARIANTS:
            d, lo, hi = paired_auc_difference(y, base["mix"][v][judged], row["mix"][v][judged])
            diffs.append(f"{d:+.4f} ({lo:+.4f} to {hi:+.4f})")
        print(f"| {name} | {npr[0]:.3f} / {npr[1]:.3f} | {mix[0]:.4f} | {mix[1]:.4f} | {mix[0] - mix[1]:.3f} | {'; '.join(diffs)} |")
    from PIL import Image

    formats = np.array([Image.open(i.sample.path).format for i in images])
    print("\nOriginals within one file format: AUC of the NPR part, the mix and the probe part")
    shown = [f"{counts[0]} crops"] + [name for name in rows if name.startswith("8 least textured")]
    for fmt in ("JPEG", "PNG"):
        inside = judged & (formats == fmt)
        y_in = labels[inside]
        for name in shown:
            row = rows[name]
            print(f"  {fmt} ({int((y_in == 1).sum())} AI / {int((y_in == 0).sum())} real), {name}: "
                  f"{roc_auc(y_in, row['npr']['original'][inside]):.3f}, {roc_auc(y_in, row['mix']['original'][inside]):.3f}, "
                  f"{roc_auc(y_in, probe['original'][inside]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
