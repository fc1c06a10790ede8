#!/usr/bin/env python3
"""Experiment (issue 11): pool the NPR members of two efficientnet_lite0_multilevel_npr checkpoints.

    .venv/bin/python scripts/experiments/npr_seed_ensemble.py var/models/previous-default.pt var/models/seed100.pt \
        --output var/models/npr-two-seeds.pt --data ../shared/data/train var/corpus-train --cache-dir var/feature-cache

Two trainings of the same NPR recipe with different seeds differ by about 0.03 in the NPR part's
out-of-source AUC. This writes a checkpoint whose NPR part is both sets of members (their logits
averaged, as `members_logits` does for any member count), with each image's stored out-of-source
logit the mean of the two checkpoints' stored logits: each of those came from a member that never
saw the image's source, so the mean did too. The probe head, the mix and the thresholds are the first
checkpoint's and must be fitted again: `train_detector ... --keep-npr-from <output>` does that by the
usual out-of-source rules.

A retrain fine-tunes members on reviewer labels only where it knows which sources each member never
trained on. A checkpoint that does not record them (older ones) has them read off its stored logits
(`held_out_by_member`, on the crops of `--data`), so the pooled checkpoint records them for every member.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")


def pooled_npr_args(first: dict, second: dict, members: int, held_out: tuple = (None, None)) -> dict:
    """training_args["npr"] for the pooled members: stored logits averaged where both have them."""
    same = ("epochs", "draws_per_epoch", "crop", "crops_per_image")
    for key in same:
        if first.get(key) != second.get(key):
            raise SystemExit(f"The two NPR parts differ in {key}: {first.get(key)!r} vs {second.get(key)!r}.")
    if first.get("crop_pool", 8) != second.get("crop_pool", 8):
        raise SystemExit("The two NPR parts cut different crops (crop_pool); their members cannot be pooled.")
    a, b = first.get("out_of_source_logits") or {}, second.get("out_of_source_logits") or {}
    common = sorted(set(a) & set(b))
    if not common:
        raise SystemExit("The two checkpoints store no out-of-source logits for the same images.")
    args = {k: v for k, v in first.items() if k not in ("out_of_source_logits", "member_held_out_sources", "kept_from_parent",
                                                         "stored_logits_used", "scored_by_members")}
    args.update(members=members, pooled_from=[first.get("seed", 0), second.get("seed", 0)],
                out_of_source_logits={d: [(x + y) / 2 for x, y in zip(a[d], b[d])] for d in common})
    held_a = first.get("member_held_out_sources") or held_out[0]
    held_b = second.get("member_held_out_sources") or held_out[1]
    if held_a is not None and held_b is not None:
        args["member_held_out_sources"] = list(held_a) + list(held_b)
    return args


def recorded_or_read_held_out(checkpoint, data_dirs, cache_dir) -> list | None:
    """The sources each member never trained on: recorded, or read off the stored logits (None if neither)."""
    npr = checkpoint.training_args["npr"]
    if npr.get("member_held_out_sources") is not None or not data_dirs:
        return npr.get("member_held_out_sources")
    from detector.ml.architectures import model_for_state_dict
    from detector.ml.npr_training import crop_pool_of, held_out_by_member, image_crops
    from detector.ml.out_of_source import load_images

    images, _sides = load_images(data_dirs, max_per_source=checkpoint.training_args.get("max_per_source"),
                                 seed=checkpoint.training_args.get("seed", 0))
    crops, digests = image_crops(images, cache_dir=cache_dir, pool=crop_pool_of(checkpoint.training_args))
    model = model_for_state_dict(checkpoint.arch, checkpoint.state_dict)
    model.load_state_dict(checkpoint.state_dict)
    held = held_out_by_member(list(model.npr), npr, images, crops, digests)
    return None if held is None else [sorted(h) for h in held]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--output", required=True)
    parser.add_argument("--data", nargs="+", default=(), help="the training folders (to read off unrecorded held-out sources)")
    parser.add_argument("--cache-dir", default=None, help="the training run's cache (its NPR crops)")
    options = parser.parse_args(argv)
    import django

    django.setup()
    from detector.ml.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
    from detector.ml.npr import NPR_ARCH

    try:
        first, second = read_checkpoint(options.first), read_checkpoint(options.second)
    except (CheckpointError, OSError) as exc:
        raise SystemExit(f"Cannot pool these members: {exc}") from None
    for path, checkpoint in ((options.first, first), (options.second, second)):
        if checkpoint.arch != NPR_ARCH:
            raise SystemExit(f"{path} is a {checkpoint.arch!r} model, not {NPR_ARCH!r}.")
    held_out = tuple(recorded_or_read_held_out(c, options.data, options.cache_dir) for c in (first, second))
    count = 1 + max(int(k.split(".")[1]) for k in first.state_dict if k.startswith("npr."))
    state = dict(first.state_dict)
    for key, tensor in second.state_dict.items():
        if key.startswith("npr."):
            _npr, index, rest = key.split(".", 2)
            state[f"npr.{count + int(index)}.{rest}"] = tensor
    members = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("npr."))
    first.state_dict = state
    first.training_args = dict(first.training_args, npr=pooled_npr_args(first.training_args["npr"],
                                                                        second.training_args["npr"], members,
                                                                        held_out))
    save_checkpoint(first, options.output)
    print(f"wrote {options.output}: {members} NPR members ({count} + {members - count}), "
          f"{len(first.training_args['npr']['out_of_source_logits'])} images' out-of-source logits averaged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
